#!/usr/bin/env bash
# One-time Vault setup for runner pods: Kubernetes auth, the templated
# session policy, and the Kubernetes auth role "ambient-session" that every
# session pod logs in with.
#
#   vault-k8s-auth.sh
#
# Environment:
#   VAULT_ADDR, VAULT_TOKEN  an operator token (auth and policy admin)
#   K8S_HOST            Kubernetes API URL as Vault reaches it
#                       (default https://kubernetes.default.svc, right when
#                       Vault runs in the cluster; it then also uses its own
#                       service account token and CA for TokenReview)
#   K8S_CA_CERT         file with the API's CA, when Vault runs outside
#   K8S_REVIEWER_JWT    file with a token allowed to create TokenReviews,
#                       when Vault runs outside the cluster
#   SESSION_NAMESPACES  namespaces of session pods (default ambient-sessions;
#                       comma separated, globs allowed)
#   TOKEN_MAX_TTL       longest a session's Vault token lives before Agent
#                       logs in again (default 24h; see docs/runner-integration.md)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# Not `vault auth list | grep -q`: grep exits at the first match, vault may
# then die writing to the closed pipe (SIGPIPE), and pipefail turns the
# match into a failure: a rerun would sometimes enable the method again
# and fail with "path is already in use".
auths=$(vault auth list -format=json)
if ! grep -q '"kubernetes/"' <<<"$auths"; then
  vault auth enable kubernetes
fi

config=("kubernetes_host=${K8S_HOST:-https://kubernetes.default.svc}")
if [ -n "${K8S_CA_CERT:-}" ]; then
  config+=("kubernetes_ca_cert=@$K8S_CA_CERT")
fi
if [ -n "${K8S_REVIEWER_JWT:-}" ]; then
  config+=("token_reviewer_jwt=@$K8S_REVIEWER_JWT")
fi
vault write auth/kubernetes/config "${config[@]}"

# The session policy names the auth mount by its accessor (twice on one
# line: the namespace and the service account name).
accessor=$(vault read -field=accessor sys/auth/kubernetes)
sed "s/<KUBERNETES_ACCESSOR>/$accessor/g" "$here/../policies/session-templated.hcl" |
  vault policy write github-session -

# Every session pod logs in with this one role; the templated policy then
# limits each to github/token/session_<its namespace>_<its service account name>,
# so a same-named service account in another namespace reaches nothing.
#  - bound_service_account_names takes globs: only ambient-session-* accounts.
#  - audience=vault: only projected tokens minted for Vault are accepted,
#    not the pod's default API token.
#  - alias_name_source=serviceaccount_name: the entity alias is
#    "<namespace>/ambient-session-<session>", readable in audit logs and
#    findable by name; the policy does not depend on it (it uses the alias
#    metadata service_account_name), so the default serviceaccount_uid works
#    too if you prefer a new entity for a re-created account.
vault write auth/kubernetes/role/ambient-session \
  bound_service_account_names='ambient-session-*' \
  bound_service_account_namespaces="${SESSION_NAMESPACES:-ambient-sessions}" \
  audience=vault \
  alias_name_source=serviceaccount_name \
  token_policies=github-session \
  token_ttl=1h \
  token_max_ttl="${TOKEN_MAX_TTL:-24h}"
