# Administrators of team <team> on one GitHub App of a mount that holds
# several (apps/<app>): team-admin.hcl with the App pinned as well. Their
# roles lie inside the bound <team>, which names the App <app>, and every
# write must also say app=<app>, so no role of theirs mints through another
# App. <team> is never "session" (session_* roles are the agentic
# sessions'). Substitute <team> and <app>:
#   sed -e 's/<team>/team-c/g' -e 's/<app>/ghes/g' team-admin-app.hcl |
#     vault policy write team-c-admin -
#
# What an operator sets first: the App and the bound, e.g.
#   vault write github/apps/ghes app_id=12 private_key=@ghes.pem \
#     base_url=https://ghe.example.com/api/v3 ca_certificate=@ghe-ca.pem
#   vault write github/bounds/team-c app=ghes owner=corp repositories='infra*' \
#     max_permissions=contents=write,metadata=read
#
# Vault checks required_parameters on reads too, so the admin reads and
# checks a role with both parameters:
#   vault read github/roles/<team>_web bound=<team> app=<app>
#   vault read github/roles/<team>_web/check bound=<team> app=<app>

path "github/roles/<team>_*" {
  capabilities = ["create", "read", "update", "delete"]

  required_parameters = ["bound", "app"]

  allowed_parameters = {
    "bound" = ["<team>"]
    "app"   = ["<app>"]
    "*"     = []
  }
}

path "github/apps/<app>" {
  capabilities = ["read"]
}

path "sys/leases/revoke-prefix/github/token/<team>_*" {
  capabilities = ["update", "sudo"]
}
