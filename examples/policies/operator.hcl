# Platform operators of the github/ mount: the Apps (config is the App
# "default", apps/<name> the others, each with its max_permissions and
# default_permissions), every bound and role and role checks, ad-hoc minting, installations, plugin info and metrics, and lease
# lookup and revocation for the mount's tokens. Nothing outside the mount
# except lease management under sys/leases/.../github/token/.
# (Registering and upgrading the plugin needs more; see docs/upgrading.md.)

path "github/config" {
  capabilities = ["create", "read", "update", "delete"]
}

# The mount's other GitHub Apps (docs/multi-app.md).
path "github/apps/" {
  capabilities = ["list"]
}

path "github/apps/*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "github/roles/" {
  capabilities = ["list"]
}

# roles/<name>/check falls under this glob (read).
path "github/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Bounds: the most a team's or project's roles may reach.
path "github/bounds/" {
  capabilities = ["list"]
}

path "github/bounds/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Ad-hoc minting with role fields inline: vault write github/token owner=acme ...
path "github/token" {
  capabilities = ["update"]
}

path "github/token/*" {
  capabilities = ["read", "update"]
}

path "github/installations" {
  capabilities = ["read"]
}

path "github/info" {
  capabilities = ["read"]
}

path "github/metrics" {
  capabilities = ["read"]
}

# vault list sys/leases/lookup/github/token/<role>/   (listing needs sudo)
path "sys/leases/lookup/github/token/*" {
  capabilities = ["list", "sudo"]
}

# vault lease lookup <lease_id>  (the CLI sends the id in the body: only
# this mount's token leases)
path "sys/leases/lookup" {
  capabilities = ["update"]

  allowed_parameters = {
    "lease_id" = ["github/token/*"]
  }
}

# vault lease revoke github/token/<role>/<id>
path "sys/leases/revoke/github/token/*" {
  capabilities = ["update"]
}

# vault lease revoke -prefix github/token/<role>
path "sys/leases/revoke-prefix/github/token/*" {
  capabilities = ["update", "sudo"]
}
