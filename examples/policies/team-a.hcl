# Team "team-a": mint tokens for roles named team-a-*.
# (team.hcl with <team> = team-a; loaded by the acceptance tests.)
path "github/token/team-a-*" {
  capabilities = ["read", "update"]
}
