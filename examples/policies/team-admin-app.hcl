# Administrators of team <team> on one GitHub App of the mount, <app>
# (apps/<app>), whose repositories live in the organization <org>: they
# manage github/roles/<team>-* on that App only, check them, and read (not
# change) the App. Every write must name app = "<app>", so a role cannot be
# moved to, or made on, another App.

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

path "github/roles/<team>-*/check" {
  capabilities = ["read"]
}

path "github/apps/<app>" {
  capabilities = ["read"]
}

path "sys/leases/revoke-prefix/github/token/<team>-*" {
  capabilities = ["update", "sudo"]
}
