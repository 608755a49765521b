# Administrators of team "team-a", whose repositories live in the GitHub
# organization "acme" (team-admin.hcl with <team> = team-a, <org> = acme;
# loaded by the acceptance tests).

path "github/roles/team-a-*" {
  capabilities = ["create", "read", "update", "delete"]

  allowed_parameters = {
    "owner"          = ["acme"]
    "repository"     = ["acme/*"]
    "repositories"   = []
    "repository_ids" = []
    "permissions"    = []
    "ttl"            = []
    "expiry_buffer"  = []
  }
}

path "sys/leases/revoke-prefix/github/token/team-a-*" {
  capabilities = ["update", "sudo"]
}
