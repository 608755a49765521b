# Team "team-a": mint tokens for roles named team-a_*.
# (team.hcl with <team> = team-a; loaded by the acceptance tests.)
path "github/token/team-a_*" {
  capabilities = ["read", "update"]
}
