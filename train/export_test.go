package train

import "github.com/taet-ml/taet/onnx/ort"

// SetDeviceResident makes Fit take the device-resident path when resident
// is true, whatever the device, until the returned restore is called.
func SetDeviceResident(resident bool) (restore func()) {
	orig := deviceResident
	deviceResident = func(ort.Device) bool { return resident }
	return func() { deviceResident = orig }
}
