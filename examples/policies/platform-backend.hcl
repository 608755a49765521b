# The platform backend: writes one role per agentic session when the
# session starts and removes it, with its tokens, when the session ends
# (examples/runner/session-start.sh, session-end.sh). Session roles are
# named ambient-session-<session>, so this policy cannot touch team roles,
# the App config or ad-hoc minting, and it cannot mint tokens itself.

path "github/roles/ambient-session-*" {
  capabilities = ["create", "read", "update", "delete"]

  # To keep sessions on your own org(s), add for example:
  # allowed_parameters = {
  #   "owner" = ["acme"], "repositories" = [], "permissions" = [],
  #   "ttl" = [], "expiry_buffer" = []
  # }
}

# vault lease revoke -prefix github/token/ambient-session-<session>
path "sys/leases/revoke-prefix/github/token/ambient-session-*" {
  capabilities = ["update", "sudo"]
}
