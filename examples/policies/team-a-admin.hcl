# Administrators of team "team-a" (team-admin.hcl with <team> = team-a;
# loaded by the acceptance tests). An operator writes the bound team-a
# first, e.g. github/bounds/team-a owner=acme repositories=widgets,gadgets
# max_permissions=contents=write,pull_requests=write,metadata=read.
# Also covers github/roles/team-a_*/check (with bound=team-a): a probe
# token minted and revoked at once, never returned.

path "github/roles/team-a_*" {
  capabilities = ["create", "read", "update", "delete"]

  required_parameters = ["bound"]

  allowed_parameters = {
    "bound" = ["team-a"]
    "*"     = []
  }
}

# Revoke every token of one role at once (incident, offboarding):
#   vault lease revoke -prefix github/token/team-a_web
# revoke-prefix needs sudo; Vault appends "/" to the prefix, so
# github/token/team-a_web does not reach github/token/team-a_web2.
path "sys/leases/revoke-prefix/github/token/team-a_*" {
  capabilities = ["update", "sudo"]
}
