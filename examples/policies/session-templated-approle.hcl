# One agentic session, AppRole variant: the same rule as
# session-templated.hcl, testable without Kubernetes (the acceptance tests
# and examples/runner/agent-approle.hcl use it). An AppRole role named
# <namespace>_<session service account>, e.g.
# ambient-sessions_ambient-session-s1, reads
# github/token/session_ambient-sessions_ambient-session-s1 and nothing else.
#
# Placeholder: <APPROLE_ACCESSOR>, the accessor of the AppRole auth mount:
#   acc=$(vault read -field=accessor sys/auth/approle)
#   sed "s/<APPROLE_ACCESSOR>/$acc/" session-templated-approle.hcl | vault policy write github-session-approle -
#
# AppRole puts the role's name in the entity alias metadata (role_name) at
# every login; the alias name itself is the role_id, a UUID. Alias metadata
# is written by Vault at login, so a workload cannot change it. (Entity
# metadata, {{identity.entity.metadata.session}}, would work too, but
# someone must write it with identity/entity privileges, which could then
# rewrite any entity's metadata and so reach any session's role.)
#
# The path starts with "session_", so whatever the AppRole role is called
# (team-a_web too), it reaches a session role only, never a team's.
# AppRole lower-cases role names: an AppRole role written as
# ambient-sessions_S1 logs in as ambient-sessions_s1 and reads
# session_ambient-sessions_s1, so a session role with capitals
# (session_ambient-sessions_S1) is never reachable. Name session roles in
# lower case.
path "github/token/session_{{identity.entity.aliases.<APPROLE_ACCESSOR>.metadata.role_name}}" {
  capabilities = ["read", "update"]
}
