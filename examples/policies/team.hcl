# Team <team>: mint tokens for the team's roles, github/roles/<team>-*.
# Substitute <team>:  sed 's/<team>/team-a/g' team.hcl | vault policy write team-a -
#
# "update" allows a write to github/token/<role>, which can only narrow a
# token to a subset of the role (asking for more is a 403). Nothing else:
# no config, no role writes, no ad-hoc github/token.
path "github/token/<team>-*" {
  capabilities = ["read", "update"]
}
