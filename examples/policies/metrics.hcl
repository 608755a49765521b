# A metrics scraper (Prometheus): read the github/ mount's counters and
# nothing else. No tokens, roles, bounds, config or installations.
#   vault policy write github-metrics examples/policies/metrics.hcl
#   vault token create -policy=github-metrics -orphan -period=24h -field=token
# (a periodic token, renewed by using it within the period; give Prometheus
# the token in a file: authorization.credentials_file.)
path "github/metrics" {
  capabilities = ["read"]
}
