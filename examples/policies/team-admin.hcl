# Administrators of team <team>: manage the team's roles and revoke the
# team's tokens. Substitute <team> and <org> (the GitHub organization the
# team's repositories live in):
#   sed -e 's/<team>/team-a/g' -e 's/<org>/acme/g' team-admin.hcl | vault policy write team-a-admin -
#
# Not granted: minting (github/token/*: an admin who also works with the
# repositories gets team.hcl as well), github/config (the App key),
# github/token (ad-hoc minting), github/installations, and LIST on
# github/roles/ (the engine lists every role of the mount, so it would show
# other teams' role names; grant path "github/roles/" { capabilities =
# ["list"] } if that is acceptable).

path "github/roles/<team>-*" {
  capabilities = ["create", "read", "update", "delete"]

  # Which installation a role may point at is the boundary between teams:
  # without this, an admin could write a role for any org the App is
  # installed on. Only owner=<org> or repository=<org>/... are allowed; an
  # installation_id (or any field not listed) is refused with 403.
  # Repositories within <org> cannot be limited by policy: a list value
  # is matched as a whole, not per entry.
  allowed_parameters = {
    "owner"          = ["<org>"]
    "repository"     = ["<org>/*"]
    "repositories"   = []
    "repository_ids" = []
    "permissions"    = []
    "ttl"            = []
    "expiry_buffer"  = []
  }
}

# Revoke every token of one role at once (incident, offboarding):
#   vault lease revoke -prefix github/token/<team>-web
# revoke-prefix needs sudo; Vault appends "/" to the prefix, so
# github/token/<team>-web does not reach github/token/<team>-web2.
path "sys/leases/revoke-prefix/github/token/<team>-*" {
  capabilities = ["update", "sudo"]
}
