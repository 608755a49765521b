# Administrators of team <team>: manage the team's roles inside the team's
# bound, and revoke the team's tokens. <team> is never "session" (session_*
# roles are the agentic sessions'). Substitute <team>:
#   sed 's/<team>/team-a/g' team-admin.hcl | vault policy write team-a-admin -
#
# What an operator sets first: the bound named <team>, the most the team's
# roles may reach (see docs/policies.md), e.g.
#   vault write github/bounds/team-a owner=acme repositories='web-*,api' \
#     max_permissions=contents=write,pull_requests=write,metadata=read max_ttl=1h
#
# The policy pins one plain value, bound=<team>, and requires it on every
# write; the engine enforces the rest (installation, repositories in every
# spelling, permission names and levels, ttl, branches) on the write and
# again at every mint. Parameter rules alone cannot do that: see docs/policies.md.
# Vault checks required_parameters on reads too, so the admin reads a role
# with the bound as a parameter: vault read github/roles/<team>_web bound=<team>
# The glob also covers github/roles/<team>_web/check (read, with the bound):
# GitHub mints a token with the role's scope, the engine revokes it at once
# and answers a report, never the token.
#
# Not granted: minting (github/token/*: an admin who also works with the
# repositories gets team.hcl as well), the bound itself, github/config,
# github/token (ad-hoc minting), github/installations, and LIST on
# github/roles/ (the engine lists every role of the mount).

path "github/roles/<team>_*" {
  capabilities = ["create", "read", "update", "delete"]

  required_parameters = ["bound"]

  allowed_parameters = {
    "bound" = ["<team>"]
    "*"     = []
  }
}

# Revoke every token of one role at once (incident, offboarding):
#   vault lease revoke -prefix github/token/<team>_web
# revoke-prefix needs sudo; Vault appends "/" to the prefix, so
# github/token/<team>_web does not reach github/token/<team>_web2.
path "sys/leases/revoke-prefix/github/token/<team>_*" {
  capabilities = ["update", "sudo"]
}
