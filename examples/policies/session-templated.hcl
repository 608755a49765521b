# One agentic session (Kubernetes auth): the session's pod may mint tokens
# for its own role only,
# github/token/session_<its namespace>_<its service account>.
#
# Placeholder: <KUBERNETES_ACCESSOR>, the accessor of the Kubernetes auth
# mount (vault-k8s-auth.sh substitutes it). It occurs twice on the path
# line, so sed needs the g flag:
#   acc=$(vault read -field=accessor sys/auth/kubernetes)
#   sed "s/<KUBERNETES_ACCESSOR>/$acc/g" session-templated.hcl | vault policy write github-session -
#
# The Kubernetes auth method records the service account's namespace and
# name in the entity alias metadata at every login
# (service_account_namespace, service_account_name); the role is named
# after both, joined by "_", which neither can contain: service account
# ambient-session-s1 in namespace ambient-sessions reads
# github/token/session_ambient-sessions_ambient-session-s1, and a same-named
# account in another namespace reads another role. The metadata is set by
# Vault from the verified service account token, so a pod cannot claim
# another name or namespace, and it does not depend on the role's
# alias_name_source. A token without that alias (another auth method) gets
# nothing from this policy: a template that does not resolve drops its path.
#
# Every session role starts with "session_" and no team is named "session"
# (team.hcl), so no namespace and service account (say team-a and web)
# reach a team's role (team-a_web). Kubernetes names are lower case, so
# session roles are too.
#
# "update" allows narrowing (a write can only ask for less than the role).
path "github/token/session_{{identity.entity.aliases.<KUBERNETES_ACCESSOR>.metadata.service_account_namespace}}_{{identity.entity.aliases.<KUBERNETES_ACCESSOR>.metadata.service_account_name}}" {
  capabilities = ["read", "update"]
}
