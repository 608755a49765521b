package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
)

// The answer to a refused push, in git's own report-status
// (builtin/receive-pack.c, report): "unpack ok", "ng <ref> <reason>" for
// every command, a flush; wrapped in band-1 packets when the client asked
// for side-band(-64k), followed by a flush. git prints each as
// "! [remote rejected] <ref> (<reason>)".

// pktLine appends s as one pkt-line.
func pktLine(b *bytes.Buffer, s string) {
	fmt.Fprintf(b, "%04x%s", len(s)+4, s)
}

// reportStatus is the body refusing every command of req for reason.
func reportStatus(req pushRequest, reason string) []byte {
	// One line, short enough for one pkt-line whatever the ref.
	reason = strings.NewReplacer("\n", " ", "\r", " ", "\x00", " ").Replace(reason)
	var report bytes.Buffer
	pktLine(&report, "unpack ok\n")
	for _, c := range req.commands {
		line := "ng " + c.ref + " " + reason
		if len(line)+5 > maxPktLen {
			line = line[:maxPktLen-5]
		}
		pktLine(&report, line+"\n")
	}
	report.WriteString("0000")
	if req.sideband == 0 {
		return report.Bytes()
	}
	var out bytes.Buffer
	data := report.Bytes()
	for len(data) > 0 {
		n := min(len(data), req.sideband-5)
		fmt.Fprintf(&out, "%04x\x01", n+5)
		out.Write(data[:n])
		data = data[n:]
	}
	out.WriteString("0000")
	return out.Bytes()
}

// writeReportStatus answers a push with its refusal.
func writeReportStatus(w http.ResponseWriter, req pushRequest, reason string) {
	body := reportStatus(req, reason)
	w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
