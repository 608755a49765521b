# One agentic session (Kubernetes auth): the session's pod may mint tokens
# for its own role only, github/token/<its service account name>.
#
# Placeholder: <KUBERNETES_ACCESSOR>, the accessor of the Kubernetes auth
# mount (vault-k8s-auth.sh substitutes it):
#   acc=$(vault read -field=accessor sys/auth/kubernetes)
#   sed "s/<KUBERNETES_ACCESSOR>/$acc/" session-templated.hcl | vault policy write github-session -
#
# The Kubernetes auth method records the service account's name in the
# entity alias metadata at every login (service_account_name); the role is
# named after it: service account ambient-session-<session> reads
# github/token/ambient-session-<session>. The metadata is set by Vault from
# the verified service account token, so a pod cannot claim another name,
# and it does not depend on the role's alias_name_source (the alias name is
# the service account's uid, or "<namespace>/<name>", which contains a '/'
# and so could never be a role name). A token without that alias (another
# auth method) gets nothing from this policy: a template that does not
# resolve drops its path.
#
# "update" allows narrowing (a write can only ask for less than the role).
path "github/token/{{identity.entity.aliases.<KUBERNETES_ACCESSOR>.metadata.service_account_name}}" {
  capabilities = ["read", "update"]
}
