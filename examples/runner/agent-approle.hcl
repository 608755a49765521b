# Vault Agent for local testing: the same templates as agent.hcl, AppRole
# auth instead of Kubernetes, every path relative to the directory Agent is
# started in. The acceptance tests run it; so can you against `make dev`.
#
# Placeholders (replace with sed, or just create these files):
#   VAULT_ADDR    environment: Vault's address.
#   GITHUB_ROLE   environment: the session's role in the github/ mount,
#                 e.g. session_ambient-sessions_ambient-session-s1.
#   ./role-id     file: the AppRole role_id
#                 (vault read -field=role_id auth/approle/role/<name>/role-id)
#   ./secret-id   file: a secret_id
#                 (vault write -f -field=secret_id auth/approle/role/<name>/secret-id)
#   ./github-token.ctmpl, ./gh-env.ctmpl, ./credentials.json.ctmpl,
#   ./gitconfig.ctmpl, ./branches.txt.ctmpl
#                 the templates, copied from this directory.
#   ./github/     where the files are rendered (created if missing):
#                 ./github/token, ./github/gh.env, ./github/credentials.json
#   ./github-session/  what the runner may read in any pod (no token):
#                 ./github-session/gitconfig, ./github-session/branches.txt
#   ./vault-token Agent's own Vault token (sink).
#
# Run:  GITHUB_ROLE=session_ambient-sessions_ambient-session-s1 vault agent -config=agent-approle.hcl
# (add -exit-after-auth to render once and exit).

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = "./role-id"
      secret_id_file_path                 = "./secret-id"
      remove_secret_id_file_after_reading = false
    }
    # Longest wait between two login attempts and between two template
    # retries: see agent.hcl.
    max_backoff = "1m"
  }

  sink "file" {
    config = {
      path = "./vault-token"
      mode = 0600
    }
  }
}

# The settings the continuity soak runs (docs/continuity.md); agent.hcl
# explains them.
template_config {
  exit_on_retry_failure   = true
  lease_renewal_threshold = 0.25
}

template {
  source               = "./github-token.ctmpl"
  destination          = "./github/token"
  perms                = "0440"
  error_on_missing_key = true
}

template {
  source               = "./gh-env.ctmpl"
  destination          = "./github/gh.env"
  perms                = "0440"
  error_on_missing_key = true
}

template {
  source               = "./credentials.json.ctmpl"
  destination          = "./github/credentials.json"
  perms                = "0440"
  error_on_missing_key = true
}

template {
  source               = "./gitconfig.ctmpl"
  destination          = "./github-session/gitconfig"
  perms                = "0444"
  error_on_missing_key = true
}

template {
  source               = "./branches.txt.ctmpl"
  destination          = "./github-session/branches.txt"
  perms                = "0444"
  error_on_missing_key = true
}
