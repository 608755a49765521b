# Administrators of team <team> on one GitHub App of the mount, <app>
# (apps/<app>), whose repositories live in the organization <org>: they
# manage github/roles/<team>-* on that App only, check them
# (github/roles/<team>-*/check falls under the same glob), and read (not
# change) the App. Every write must name app = "<app>", so a role cannot be
# moved to, or made on, another App. Vault checks required_parameters on
# reads too, so the admin reads and checks with the App as a parameter:
#   vault read github/roles/<team>-web app=<app>
#   vault read github/roles/<team>-web/check app=<app>

path "github/roles/<team>-*" {
  capabilities = ["create", "read", "update", "delete"]

  allowed_parameters = {
    "app"            = ["<app>"]
    "owner"          = ["<org>"]
    "repository"     = ["<org>/*"]
    "repositories"   = []
    "repository_ids" = []
    "permissions"    = []
    "ttl"            = []
    "expiry_buffer"  = []
    "check"          = []
  }

  required_parameters = ["app"]
}

path "github/apps/<app>" {
  capabilities = ["read"]
}

path "sys/leases/revoke-prefix/github/token/<team>-*" {
  capabilities = ["update", "sudo"]
}
