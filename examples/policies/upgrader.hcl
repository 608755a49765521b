# Whoever upgrades the plugin (docs/upgrading.md): register a new version,
# pin the mount to it, reload, and check. Operators set: the mount path
# (github/ here).

path "sys/plugins/catalog/secret/vault-plugin-github-app" {
  capabilities = ["create", "update", "read", "delete", "sudo"]
}

# vault plugin list -detailed
path "sys/plugins/catalog" {
  capabilities = ["read"]
}

path "sys/plugins/catalog/secret" {
  capabilities = ["list"]
}

# vault secrets list -detailed
path "sys/mounts" {
  capabilities = ["read"]
}

path "sys/mounts/github/tune" {
  capabilities = ["read", "update"]
}

path "sys/plugins/reload/*" {
  capabilities = ["update", "sudo"]
}

path "github/info" {
  capabilities = ["read"]
}
