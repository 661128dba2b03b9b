package optics

import (
	"strconv"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
)

func init() {
	d := prometheus.Describe
	d("anydiag_optics_rx_power_dbm", prometheus.Gauge, "Optical receive power per module lane, in dBm (-40 when no light).")
	d("anydiag_optics_tx_power_dbm", prometheus.Gauge, "Optical transmit power per module lane, in dBm (-40 when no light).")
	d("anydiag_optics_tx_bias_amperes", prometheus.Gauge, "Laser bias current per module lane, in amperes.")
	d("anydiag_optics_temperature_celsius", prometheus.Gauge, "Transceiver module temperature, in degrees Celsius.")
	d("anydiag_optics_supply_volts", prometheus.Gauge, "Transceiver module supply voltage, in volts.")
	d("anydiag_optics_rx_power_low_alarm_dbm", prometheus.Gauge, "The module's own receive power low-alarm threshold, in dBm.")
	d("anydiag_optics_rx_power_low_warning_dbm", prometheus.Gauge, "The module's own receive power low-warning threshold, in dBm.")
	d("anydiag_optics_info", prometheus.Gauge, "Always 1, labelled with the module's identity.")
}

// Metrics converts the modules of one read into a fresh set, which the
// caller swaps for the previous one so unplugged modules lose their series.
// Only the values a module says it monitors are exported.
func Metrics(mods []Module) *metrics.Set {
	set := metrics.NewSet()
	for _, m := range mods {
		ifc := []string{"interface", m.Interface}
		id := m.Identity
		set.GetOrCreateGauge(prometheus.Name("anydiag_optics_info", "interface", m.Interface, "vendor", id.Vendor, "part_number", id.PartNumber,
			"serial", id.Serial, "type", id.Type, "wavelength_nm", strconv.FormatFloat(id.WavelengthNM, 'g', -1, 64)), nil).Set(1)
		if m.Monitors.Temp {
			set.GetOrCreateGauge(prometheus.Name("anydiag_optics_temperature_celsius", ifc...), nil).Set(m.TempCelsius)
		}
		if m.Monitors.Vcc {
			set.GetOrCreateGauge(prometheus.Name("anydiag_optics_supply_volts", ifc...), nil).Set(m.VccVolts)
		}
		if t := m.Thresholds; t != nil {
			set.GetOrCreateGauge(prometheus.Name("anydiag_optics_rx_power_low_alarm_dbm", ifc...), nil).Set(t.RxPowerDBm.LowAlarm)
			set.GetOrCreateGauge(prometheus.Name("anydiag_optics_rx_power_low_warning_dbm", ifc...), nil).Set(t.RxPowerDBm.LowWarning)
		}
		for i, l := range m.Lanes {
			lane := []string{"interface", m.Interface, "lane", strconv.Itoa(i + 1)}
			if m.Monitors.RxPower {
				set.GetOrCreateGauge(prometheus.Name("anydiag_optics_rx_power_dbm", lane...), nil).Set(l.RxPowerDBm)
			}
			if m.Monitors.TxPower {
				set.GetOrCreateGauge(prometheus.Name("anydiag_optics_tx_power_dbm", lane...), nil).Set(l.TxPowerDBm)
			}
			if m.Monitors.TxBias {
				set.GetOrCreateGauge(prometheus.Name("anydiag_optics_tx_bias_amperes", lane...), nil).Set(l.TxBiasMA / 1000)
			}
		}
	}
	return set
}
