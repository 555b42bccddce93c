package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseFraction parses a number written as a decimal ("0.031") or a
// fraction ("8/255"), as people write ε.
func parseFraction(s string) (float64, error) {
	num, den, isFrac := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a number or a fraction like 8/255", s)
	}
	if !isFrac {
		return n, nil
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(den), 64)
	if err != nil || d == 0 {
		return 0, fmt.Errorf("%q: want a number or a fraction like 8/255", s)
	}
	return n / d, nil
}
