package report

import (
	"encoding/base64"
	"html/template"
	"io"
)

// page is report.html: one self-contained file, CSS inline and the figures
// as data: URIs, so that it opens offline and can be mailed as is.
var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 80em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #eee; }
figure { margin: 2em 0; }
img { max-width: 100%; border: 1px solid #ddd; }
.missing { color: #a00; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Mean ± sample standard deviation (n−1) over seeds; n is the number of runs with the value.
Seconds: fit = Σ epoch training and evaluation seconds, eval = Σ attack seconds of the record, total = both.</p>
<h2>Configurations</h2>
<ul>
{{range .Configs}}<li><b>{{.Name}}</b> (method {{.Method}}): {{len .Runs}} runs: {{range $i, $r := .RunNames}}{{if $i}}, {{end}}{{$r}}{{end}}</li>
{{end}}</ul>
{{range .Tables}}<h2>{{.Title}}</h2>
{{if .Headers}}<table>
<tr><th>configuration</th><th>runs</th>{{range .Headers}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Config}}</td><td class="num">{{.Runs}}</td>{{range .Cells}}<td class="num">{{.}}</td>{{end}}</tr>
{{end}}</table>
{{else}}<p>No run has finished.</p>
{{end}}{{end}}
{{if .Missing}}<h2>Missing</h2>
<ul class="missing">
{{range .Missing}}<li>{{.Run}} ({{.Dir}}): {{range $i, $w := .What}}{{if $i}}; {{end}}{{$w}}{{end}}</li>
{{end}}</ul>
{{end}}
{{if .Figures}}<h2>Figures</h2>
{{range .Figures}}<figure><img src="{{.Src}}" alt="{{.Title}}"><figcaption>{{.Title}}</figcaption></figure>
{{end}}{{end}}
</body>
</html>
`))

// HTML writes report.html: the tables, what is missing and the figures,
// embedded as data: URIs.
func (rep *Report) HTML(w io.Writer, figs []Figure) error {
	type row struct {
		Config string
		Runs   int
		Cells  []string
	}
	type table struct {
		Title   string
		Headers []string
		Rows    []row
	}
	type figure struct {
		Title string
		Src   template.URL // a data: URI of our own PNG bytes, safe as a source
	}
	v := struct {
		*Report
		Tables  []table
		Figures []figure
	}{Report: rep}
	for _, t := range rep.Tables() {
		ht := table{Title: tableTitle(t.Label), Headers: t.Metrics}
		for _, r := range t.Rows {
			hr := row{Config: r.Config, Runs: r.Runs}
			for i, s := range r.Cells {
				hr.Cells = append(hr.Cells, FormatStat(t.Metrics[i], s))
			}
			ht.Rows = append(ht.Rows, hr)
		}
		v.Tables = append(v.Tables, ht)
	}
	for _, f := range figs {
		v.Figures = append(v.Figures, figure{Title: f.Title, Src: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(f.PNG))})
	}
	return page.Execute(w, v)
}
