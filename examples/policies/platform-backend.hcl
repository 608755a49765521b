# The platform backend of project <project>: writes one role per agentic
# session when the session starts and removes it, with its tokens, when the
# session ends (examples/runner/session-start.sh, session-end.sh).
# Substitute <project>, the Kubernetes namespace the project's session pods
# run in, which is also the name of the project's bound:
#   sed 's/<project>/ambient-sessions/g' platform-backend.hcl | vault policy write platform-backend -
#
# What an operator sets first: the bound named <project>, the most any of
# the project's sessions may reach, e.g.
#   vault write github/bounds/ambient-sessions owner=acme repositories='*' \
#     max_permissions=contents=write,pull_requests=write,metadata=read \
#     branches='ambient/*/*'
# (each session then writes only the branches its role names, e.g.
# ambient/<session>/* as examples/runner/session-start.sh sets).
#
# Session roles are named session_<namespace>_<serviceaccount> (the pod's
# service account), e.g. session_ambient-sessions_ambient-session-s1; "_"
# cannot occur in a namespace or service account name, so one project's
# glob never reaches another's, and the "session_" prefix (no team is named
# "session") keeps them apart from team roles (<team>_<name>). Every write
# must carry bound=<project> (Vault checks required_parameters on reads
# too: vault read ... bound=<project>); the engine keeps the role inside
# the bound in every spelling, on the write and at every mint. It may
# check a session role (roles/<name>/check with bound=<project>, or
# check=true on the write): GitHub mints a token with the role's scope,
# the engine revokes it at once and answers a report, never the token.
# This policy cannot touch team roles, bounds, the App config or ad-hoc
# minting, and it cannot mint tokens itself.

path "github/roles/session_<project>_*" {
  capabilities = ["create", "read", "update", "delete"]

  required_parameters = ["bound"]

  allowed_parameters = {
    "bound" = ["<project>"]
    "*"     = []
  }
}

# vault lease revoke -prefix github/token/session_<project>_<serviceaccount>
path "sys/leases/revoke-prefix/github/token/session_<project>_*" {
  capabilities = ["update", "sudo"]
}
