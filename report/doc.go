// Package report aggregates fits and their evaluations over seeds, per
// configuration, and writes what people read: report.md, report.csv,
// report.json, PNG figures and one self-contained report.html.
//
// LoadSweep or LoadRuns read the runs, Aggregate computes the statistics,
// and Report.Write writes the files:
//
//	runs, err := report.LoadSweep("sweep")
//	rep := report.Aggregate("my sweep", runs)
//	err = rep.Write("sweep/report")
package report
