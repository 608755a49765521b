package proxy

// Rule labels: the refused= of the audit line and the reason of
// github_token_proxy_refused_total. A bounded set.
const (
	ruleOutOfScope = "branch_not_in_scope" // a branch the scope does not name
	ruleNotBranch  = "not_a_branch"        // a tag, another namespace, an invalid name
	ruleNotListed  = "write_not_listed"    // a write on neither list
	ruleMalformed  = "malformed_request"   // a request the proxy cannot read as GitHub would
	ruleTooLarge   = "request_too_large"   // a body over the inspection limits
	ruleLookup     = "ref_lookup_failed"   // the ref depends on a lookup that failed
)

// scopeRules are the labels above, for the metrics.
var scopeRules = []string{ruleOutOfScope, ruleNotBranch, ruleNotListed, ruleMalformed, ruleTooLarge, ruleLookup}
