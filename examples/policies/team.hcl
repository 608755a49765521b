# Team <team>: mint tokens for the team's roles, github/token/<team>_*.
# Substitute <team>:  sed 's/<team>/team-a/g' team.hcl | vault policy write team-a -
#
# "_" separates the team from the role: team and namespace names cannot
# contain it, so team-a's glob never matches team-a-b's roles (team-a-b_web).
# No team is named "session": session_* roles are the agentic sessions'
# (session-templated.hcl, platform-backend.hcl).
# "update" allows a write to github/token/<role>, which can only narrow a
# token to a subset of the role (asking for more is a 403). Nothing else:
# no config, no role writes, no ad-hoc github/token.
path "github/token/<team>_*" {
  capabilities = ["read", "update"]
}
