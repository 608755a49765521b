# Vault Agent for one agentic session pod, Kubernetes auth.
# Used by k8s/sidecar-pod.yaml and k8s/proxy-pod.yaml (mounted from the
# github-vault-agent ConfigMap at /etc/vault-agent).
#
# Placeholders and what the pod provides:
#   VAULT_ADDR     environment: Vault's address, e.g. https://vault.vault.svc:8200
#                  (VAULT_CACERT for a private CA).
#   GITHUB_ROLE    environment: the session's role in the github/ mount; the pod
#                  sets it to session_<namespace>_<service account>, e.g.
#                  session_ambient-sessions_ambient-session-s1, from the downward API
#                  (metadata.namespace, spec.serviceAccountName).
#   ambient-session  the Kubernetes auth role (vault-k8s-auth.sh creates it).
#   /etc/vault-agent/*.ctmpl   the templates (same ConfigMap).
#   /var/run/github/           emptyDir for the rendered files. sidecar-pod.yaml
#                              mounts it into the runner container too (the
#                              runner reads the token); proxy-pod.yaml only into
#                              Agent and github-token-proxy, never into the
#                              runner, which never sees the token.
#   /vault/agent/              emptyDir private to Agent (its Vault token).
#   /var/run/secrets/vault.hashicorp.com/serviceaccount/token
#                  projected service account token with audience "vault",
#                  mounted into the Agent container only.

auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = {
      role       = "ambient-session"
      token_path = "/var/run/secrets/vault.hashicorp.com/serviceaccount/token"
    }
    # Longest wait between two login attempts (default 5 minutes), and
    # between two template retries (Agent passes it on; a minute already):
    # Agent finds Vault back within a minute of its return.
    max_backoff = "1m"
  }

  # Agent's own Vault token, for debugging (VAULT_TOKEN=$(cat ...) vault token
  # lookup). Keep it out of /var/run/github/, which other containers mount.
  sink "file" {
    config = {
      path = "/vault/agent/token"
      mode = 0600
    }
  }
}

template_config {
  # If Vault keeps refusing (role deleted, policy denies, GitHub refuses),
  # exit after the retries (12, about 5 minutes: 0.25 s doubling to 1 min)
  # so the failure shows as a failed container instead of a silently stale
  # file; Kubernetes starts Agent again, which logs in and reads afresh.
  exit_on_retry_failure = true

  # Agent reads a non-renewable lease again at this fraction of it, +/-5%
  # (default 0.9). 0.25 re-reads at 20-30% of the 55-minute lease, 11-16.5
  # minutes after each mint, so the token in the file always has at least
  # 38.5 minutes left before Vault revokes it: a GitHub outage of the mint
  # endpoint (or of Vault) that starts at a re-read and lasts up to ~30
  # minutes passes without a dead token in the file. It costs about 4.4
  # mints an hour instead of 1.1. The continuity soak measures it
  # (docs/continuity.md); docs/runner-integration.md has the figures.
  # Needs Vault Agent 1.17 or newer: Agent 1.16 and older ignore it.
  lease_renewal_threshold = 0.25
}

template {
  source               = "/etc/vault-agent/github-token.ctmpl"
  destination          = "/var/run/github/token"
  perms                = "0440"
  error_on_missing_key = true
}

template {
  source               = "/etc/vault-agent/gh-env.ctmpl"
  destination          = "/var/run/github/gh.env"
  perms                = "0440"
  error_on_missing_key = true
}

template {
  source               = "/etc/vault-agent/credentials.json.ctmpl"
  destination          = "/var/run/github/credentials.json"
  perms                = "0440"
  error_on_missing_key = true
}
