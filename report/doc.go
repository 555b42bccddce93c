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
//
// Write builds the whole report in a temporary directory beside its
// target and then swaps it into place, so a reader, or a failure halfway
// (a full disk), sees the previous report or the new one, never a mix.
package report
