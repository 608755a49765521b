# Whoever upgrades the plugin (docs/upgrading.md): register a version of
# vault-plugin-github-app, pin the github/ mount's plugin_version, reload
# this plugin, and check. Nothing else: no other plugin's registration or
# reload, no other tune of the mount (audit-non-hmac keys would put tokens
# and keys in clear text in the audit log; lease TTLs), no engine data.
# Operators set: the mount path (github/ here).
#
# Vault's allowed_parameters lets a request carry only the listed fields,
# each with one of the listed values ([] = any value). Vault also lets an
# empty string through any list, so every rule below is safe with "" too.

# vault plugin register -sha256=... -version=... -command=vault-plugin-github-app_... secret vault-plugin-github-app
# vault plugin info / deregister -version=... secret vault-plugin-github-app
# Only binaries named vault-plugin-github-app* directly in plugin_directory
# (no "/": Vault cleans vault-plugin-github-app_x/../other to "other"), no
# -env or -args (a registration's environment, e.g. a proxy, is the
# operator's: add "env" = ["HTTPS_PROXY=http://proxy.example:3128"] with the
# exact value if your registration has one).
path "sys/plugins/catalog/secret/vault-plugin-github-app" {
  capabilities = ["create", "update", "read", "delete", "sudo"]

  allowed_parameters = {
    "type"    = ["secret"]
    "command" = ["vault-plugin-github-app*"]
    "sha256"  = []
    "version" = []
  }

  denied_parameters = {
    "command" = ["*/*"]
  }
}

# vault plugin list -detailed secret
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

# vault write sys/mounts/github/tune plugin_version=v0.2.0
# plugin_version only. (`vault secrets tune -plugin-version=` also sends
# options, default_lease_ttl and max_lease_ttl, empty, and is refused.)
path "sys/mounts/github/tune" {
  capabilities = ["read", "update"]

  allowed_parameters = {
    "plugin_version" = []
  }
}

# vault plugin reload -plugin=vault-plugin-github-app [-type=secret] [-scope=global]
# (in the root namespace the CLI calls sys/plugins/reload/<type>/<plugin>)
path "sys/plugins/reload/unknown/vault-plugin-github-app" {
  capabilities = ["update"]

  allowed_parameters = {
    "scope" = ["global"]
  }
}

path "sys/plugins/reload/secret/vault-plugin-github-app" {
  capabilities = ["update"]

  allowed_parameters = {
    "scope" = ["global"]
  }
}

# vault write sys/plugins/reload/backend mounts=github/   (this mount only)
path "sys/plugins/reload/backend" {
  capabilities = ["update"]

  allowed_parameters = {
    "mounts" = ["github/"]
    "scope"  = ["global"]
  }
}

# vault read -field=version github/info
path "github/info" {
  capabilities = ["read"]
}
