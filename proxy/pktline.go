package proxy

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// The command section of a git push (POST .../git-receive-pack), read as
// git's receive-pack reads it (builtin/receive-pack.c, read_head_info):
// pkt-lines of optional "shallow <oid>" and commands "<old> <new> <ref>",
// the first command followed by NUL and the client's capabilities, up to
// a flush. What follows (push options, the pack) is never read here: it
// writes no ref. Only the command section is held, and at most
// pushCommandLimit bytes of it.

// maxPktLen is the largest pkt-line, its 4 length bytes included.
const maxPktLen = 65520

// pushCommandLimit bounds the command section the proxy holds.
const pushCommandLimit = 1 << 20

type pushCommand struct {
	old, new, ref string
}

// pushRequest is a push's command section, parsed.
type pushRequest struct {
	commands []pushCommand
	// sideband is the largest band packet the client reads: 65520 for
	// side-band-64k, 1000 for side-band, 0 for none.
	sideband int
	// prefix is every byte read from the body, to be sent on first.
	prefix []byte
}

// errPushTooLarge: the command section is over pushCommandLimit.
var errPushTooLarge = errors.New("the push's command section is larger than github-token-proxy inspects")

// readPush reads the command section of a push body. The body "0000" (the
// probe git sends before a large push) is a push of no command.
func readPush(body io.Reader) (pushRequest, error) {
	var req pushRequest
	hashLen := 0 // set by the capabilities: 40 (sha1) or 64 (sha256)
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(body, hdr[:]); err != nil {
			return req, errors.New("the push body ends before its command list does")
		}
		req.prefix = append(req.prefix, hdr[:]...)
		n, ok := pktLength(hdr)
		switch {
		case !ok:
			return req, fmt.Errorf("the push body has a pkt-line length that is not 4 hex digits")
		case n == 0: // flush: the end of the command section
			return req, req.end(body)
		case n < 4:
			return req, fmt.Errorf("the push body has a %04x packet, which a push does not use", n)
		case n > maxPktLen:
			return req, fmt.Errorf("the push body has a pkt-line of %d bytes; the largest is %d", n, maxPktLen)
		case len(req.prefix)+n-4 > pushCommandLimit:
			return req, errPushTooLarge
		}
		payload := make([]byte, n-4)
		if _, err := io.ReadFull(body, payload); err != nil {
			return req, errors.New("the push body ends inside a pkt-line (its length says more than it holds)")
		}
		req.prefix = append(req.prefix, payload...)
		line := strings.TrimSuffix(string(payload), "\n")
		if oid, ok := strings.CutPrefix(line, "shallow "); ok {
			if !isOID(oid, 0) {
				return req, errors.New("the push body has a shallow line without an object id")
			}
			continue
		}
		cmd, caps, hasCaps := strings.Cut(line, "\x00")
		if hasCaps {
			for _, c := range strings.Fields(caps) {
				switch {
				case c == "side-band-64k":
					req.sideband = maxPktLen
				case c == "side-band" && req.sideband == 0:
					req.sideband = 1000
				case c == "object-format=sha1":
					hashLen = 40
				case c == "object-format=sha256":
					hashLen = 64
				case strings.HasPrefix(c, "object-format="):
					return req, errors.New("the push asks for an object format git does not have")
				}
			}
		}
		if cmd == "push-cert" {
			return req, errors.New("the push is signed (push-cert), which github-token-proxy does not check and GitHub does not offer")
		}
		if hashLen == 0 {
			hashLen = 40
		}
		c, ok := parseCommand(cmd, hashLen)
		if !ok {
			return req, errors.New("the push body has a command that is not \"<old-id> <new-id> <ref>\"")
		}
		req.commands = append(req.commands, c)
	}
}

// end checks what follows the flush: a push of no command must end
// there (the "0000" probe), since it writes nothing and sends nothing.
func (req *pushRequest) end(body io.Reader) error {
	if len(req.commands) > 0 {
		return nil
	}
	var b [1]byte
	n, _ := io.ReadFull(body, b[:])
	if n > 0 {
		req.prefix = append(req.prefix, b[0])
		return errors.New("the push body has data after an empty command list")
	}
	return nil
}

// parseCommand parses "<old> <new> <ref>"; the ref is the rest of the
// line, as receive-pack takes it.
func parseCommand(cmd string, hashLen int) (pushCommand, bool) {
	if len(cmd) < 2*hashLen+3 || cmd[hashLen] != ' ' || cmd[2*hashLen+1] != ' ' {
		return pushCommand{}, false
	}
	c := pushCommand{old: cmd[:hashLen], new: cmd[hashLen+1 : 2*hashLen+1], ref: cmd[2*hashLen+2:]}
	return c, isOID(c.old, hashLen) && isOID(c.new, hashLen)
}

// isOID reports whether s is an object id in hex: hashLen digits, or
// either length when hashLen is 0.
func isOID(s string, hashLen int) bool {
	if hashLen == 0 && len(s) != 40 && len(s) != 64 || hashLen != 0 && len(s) != hashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if hexVal(s[i]) < 0 {
			return false
		}
	}
	return true
}

// pktLength reads a pkt-line length as git does (hex digits of either
// case).
func pktLength(h [4]byte) (int, bool) {
	n := 0
	for _, c := range h {
		v := hexVal(c)
		if v < 0 {
			return 0, false
		}
		n = n<<4 | v
	}
	return n, true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// isZeroOID: an all-zero id (a create's old id, a delete's new id).
func isZeroOID(s string) bool { return strings.Trim(s, "0") == "" }
