package report

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taet-ml/taet/internal/testenv"
)

// probeScript, put into a copy of report.html, writes into the DOM on load
// how many images decoded (naturalWidth > 0), how many did not, and how
// many tables and table rows the page has.
const probeScript = `<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const d = document.createElement("div");
  d.id = "probe";
  d.textContent = "decoded=" + ok + " broken=" + (imgs.length - ok) +
    " tables=" + document.querySelectorAll("table").length + " rows=" + document.querySelectorAll("tr").length;
  document.body.appendChild(d);
});
</script>`

var probeResult = regexp.MustCompile(`<div id="probe">decoded=(\d+) broken=(\d+) tables=(\d+) rows=(\d+)</div>`)

// chromium runs Debian's chromium headless (as root: no sandbox) with
// args, bounded in time, in a profile of its own, and returns its stdout.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chromium", append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir=" + t.TempDir(), "--no-first-run"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // a D-Bus error is printed there and harmless
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TestHTMLInBrowser opens the fixture sweep's report.html in a real
// browser: the page loads, its tables are there, every embedded figure
// decodes, and a screenshot of it is not blank.
func TestHTMLInBrowser(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		testenv.Missing(t, "needs Debian's chromium to open report.html: make test-deps installs it (%v)", err)
	}
	rep, out := writeFixtureReport(t)
	figs, err := rep.Figures()
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(out, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}

	// Only the copy in a directory of its own, without the figures beside
	// it: the page must not need them.
	probe := filepath.Join(t.TempDir(), "probe.html")
	if err := os.WriteFile(probe, bytes.Replace(page, []byte("</body>"), []byte(probeScript+"</body>"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := chromium(t, "--virtual-time-budget=10000", "--dump-dom", "file://"+probe)
	m := probeResult.FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe did not run (no load event?); DOM:\n%.2000s", dom)
	}
	n := make([]int, 4)
	for i := range n {
		n[i], _ = strconv.Atoi(string(m[i+1]))
	}
	tables := len(rep.Tables())
	rows := tables * (1 + len(rep.Configs))
	if n[0] != len(figs) || n[1] != 0 || n[2] != tables || n[3] != rows {
		t.Errorf("in chromium: %d images decoded, %d broken, %d tables, %d rows; want %d, 0, %d, %d", n[0], n[1], n[2], n[3], len(figs), tables, rows)
	}
	for _, want := range []string{"<h1>fixture sweep</h1>", "0.6000 ± 0.1000 (n=3)", "fit unfinished: 1 of 2 epochs"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered page lacks %q", want)
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	chromium(t, "--screenshot="+shot, "--window-size=1200,1600", "file://"+filepath.Join(out, HTMLFile))
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if bd := img.Bounds(); bd.Dx() != 1200 || bd.Dy() != 1600 {
		t.Errorf("screenshot %v, want 1200×1600", bd)
	}
	colours := map[string]bool{}
	dark := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y += 2 {
		for x := bd.Min.X; x < bd.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[fmt.Sprint(r>>8, g>>8, b>>8)] = true
			if r+g+b < 3*0x4000 {
				dark++
			}
		}
	}
	if len(colours) < 10 || dark < 500 {
		t.Errorf("screenshot looks blank: %d colours, %d dark pixels sampled", len(colours), dark)
	}
	if testing.Verbose() {
		t.Logf("screenshot: %d colours, %d dark pixels sampled; %s", len(colours), dark, strings.TrimSpace(string(m[0])))
	}
}
