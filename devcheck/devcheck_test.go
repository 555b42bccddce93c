package devcheck_test

import (
	"context"
	"strings"
	"testing"

	"github.com/taet-ml/taet/devcheck"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx/ort"
)

// TestSectionsOnTheCPU runs every section with the CPU standing in for the
// device (what gpu-check.sh --dry-run does): the comparisons must agree
// exactly and the figures must be there.
func TestSectionsOnTheCPU(t *testing.T) {
	ortest.Init(t)
	want := map[string][]string{
		"train-step": {"max_rel_diff_loss", "max_rel_diff_grad", "max_rel_diff_bn"},
		"pgd":        {"prediction_agreement", "pixels_differing"},
		"throughput": {"clean_step_img_per_s", "taet_stage2_step_img_per_s", "pgd20_img_per_s"},
		"fit-resume": {"device_epoch_loss", "cpu_epoch_loss", "resumed_cpu_epoch_loss"},
	}
	for _, section := range devcheck.Sections {
		r := devcheck.Run(context.Background(), section, ort.Device{}, devcheck.Small, 2)
		t.Logf("%+v", r)
		if !r.OK {
			t.Errorf("%s: %s", section, r.Error)
			continue
		}
		for _, m := range want[section] {
			v, ok := r.Metrics[m]
			if !ok {
				t.Errorf("%s: no %s in %v", section, m, r.Metrics)
			}
			if strings.HasPrefix(m, "max_rel_diff") && v != 0 || m == "prediction_agreement" && v != 1 {
				t.Errorf("%s: %s = %v on the CPU against itself", section, m, v)
			}
		}
		if section == "fit-resume" && r.Metrics["device_epoch_loss"] != r.Metrics["cpu_epoch_loss"] {
			t.Errorf("fit-resume: epoch loss %v and %v on the CPU against itself", r.Metrics["device_epoch_loss"], r.Metrics["cpu_epoch_loss"])
		}
	}
}

// TestUnavailableDeviceIsAReport: a section on a device that cannot be
// created fails with the reason, without stopping the caller.
func TestUnavailableDeviceIsAReport(t *testing.T) {
	ortest.Init(t)
	if ort.Providers()["cuda"] == nil {
		t.Skip("a CUDA provider is available here")
	}
	for _, section := range []string{"train-step", "nonsense"} {
		r := devcheck.Run(context.Background(), section, ort.Device{CUDA: true}, devcheck.Small, 1)
		if r.OK || r.Error == "" || r.Section != section {
			t.Errorf("%s on an unavailable GPU: %+v, want a failed report with the reason", section, r)
		}
	}
}
