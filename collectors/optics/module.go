// Package optics reads and decodes the EEPROM of pluggable optical
// transceivers (digital optical monitoring, DOM): SFF-8472 (SFP/SFP+/SFP28),
// SFF-8636 (QSFP+/QSFP28) and CMIS (QSFP-DD/OSFP).
//
// Reading and decoding are apart: ReadInterface fetches an Image from the
// kernel (ethtool netlink, or the SIOCETHTOOL ioctl on older kernels),
// ParseDump turns an `ethtool -m raw on` or `hex on` dump into one, and
// Decode turns an Image into a Module with physical units. The package never
// decides whether a value is bad: it reports the module's own thresholds
// and flags, and leaves judgement to analyzers.
package optics

// MinPowerDBm is the dBm value reported for an optical power of 0 mW ("no
// light"). It is the lowest power the 0.1 µW encoding can express (raw 1 =
// 0.0001 mW = -40 dBm), so comparisons against any threshold the module can
// encode still behave; the NoLight flags tell the two cases apart.
const MinPowerDBm = -40.0

// Standard names the memory map a module follows.
type Standard string

// The memory maps anydiag decodes.
const (
	SFF8472 Standard = "SFF-8472"
	SFF8636 Standard = "SFF-8636"
	CMIS    Standard = "CMIS"
)

// Module is one decoded transceiver.
type Module struct {
	// Interface is the network interface the module sits in, empty for a file.
	Interface string `json:"interface,omitempty"`
	// Source says where the bytes came from: "netlink", "ioctl" or "file".
	Source string `json:"source,omitempty"`
	// Standard is the memory map the module follows.
	Standard Standard `json:"standard"`
	// Identity is the module's vendor data.
	Identity Identity `json:"identity"`
	// Monitors says which diagnostics the module implements.
	Monitors Monitors `json:"monitors"`
	// RxPowerType is "average" or "OMA": what the Rx power monitor measures.
	RxPowerType string `json:"rx_power_type,omitempty"`
	// Calibration is "internal" or "external" (SFF-8472 only; the other maps
	// are always internally calibrated).
	Calibration string `json:"calibration,omitempty"`
	// TxBiasMultiplier is the CMIS Tx bias scaling factor (1, 2 or 4) already
	// applied to TxBiasMA and its thresholds; 1 for the other maps.
	TxBiasMultiplier int `json:"tx_bias_multiplier"`
	// TempCelsius is the module temperature.
	TempCelsius float64 `json:"temp_celsius"`
	// VccVolts is the module supply voltage.
	VccVolts float64 `json:"vcc_volts"`
	// Lanes holds the per-lane readings, lane 1 first (one lane for SFP).
	Lanes []Lane `json:"lanes"`
	// Thresholds are the module's own alarm and warning limits, nil when the
	// module has none or the page holding them was not read.
	Thresholds *Thresholds `json:"thresholds"`
	// Flags are the module-level alarm and warning flags, nil when the module
	// does not implement them.
	Flags *Flags `json:"flags"`
	// Notes explain what could not be decoded and why (a page missing from
	// the image, a checksum mismatch), so a partial answer is never silent.
	Notes []string `json:"notes,omitempty"`
}

// Identity is a module's vendor data.
type Identity struct {
	// Identifier is the SFF-8024 identifier byte (0x03 SFP, 0x11 QSFP28, ...).
	Identifier uint8 `json:"identifier"`
	// Type is the identifier's name, such as "SFP/SFP+/SFP28" or "QSFP-DD".
	Type string `json:"type"`
	// Connector is the SFF-8024 connector name, such as "LC".
	Connector string `json:"connector,omitempty"`
	// Vendor is the vendor name.
	Vendor string `json:"vendor"`
	// VendorOUI is the vendor's IEEE OUI as "xx:xx:xx".
	VendorOUI string `json:"vendor_oui"`
	// PartNumber is the vendor part number.
	PartNumber string `json:"part_number"`
	// Revision is the vendor revision.
	Revision string `json:"revision"`
	// Serial is the vendor serial number.
	Serial string `json:"serial"`
	// DateCode is the manufacturing date code (YYMMDD plus a lot code).
	DateCode string `json:"date_code"`
	// WavelengthNM is the nominal laser wavelength, 0 for copper or unknown.
	WavelengthNM float64 `json:"wavelength_nm"`
}

// Monitors says which diagnostic monitors a module implements.
type Monitors struct {
	// Temp is true when TempCelsius is measured.
	Temp bool `json:"temp"`
	// Vcc is true when VccVolts is measured.
	Vcc bool `json:"vcc"`
	// TxBias is true when the lanes' TxBiasMA is measured.
	TxBias bool `json:"tx_bias"`
	// TxPower is true when the lanes' Tx power is measured.
	TxPower bool `json:"tx_power"`
	// RxPower is true when the lanes' Rx power is measured.
	RxPower bool `json:"rx_power"`
}

// Lane holds one lane's readings.
type Lane struct {
	// Lane is the lane number, from 1.
	Lane int `json:"lane"`
	// TxBiasMA is the laser bias current.
	TxBiasMA float64 `json:"tx_bias_ma"`
	// TxPowerMW is the transmitted optical power.
	TxPowerMW float64 `json:"tx_power_mw"`
	// TxPowerDBm is TxPowerMW in dBm, MinPowerDBm when TxNoLight.
	TxPowerDBm float64 `json:"tx_power_dbm"`
	// TxNoLight is true when the Tx power reads 0 mW.
	TxNoLight bool `json:"tx_no_light"`
	// RxPowerMW is the received optical power.
	RxPowerMW float64 `json:"rx_power_mw"`
	// RxPowerDBm is RxPowerMW in dBm, MinPowerDBm when RxNoLight.
	RxPowerDBm float64 `json:"rx_power_dbm"`
	// RxNoLight is true when the Rx power reads 0 mW: no light at all, which
	// a dBm value cannot express.
	RxNoLight bool `json:"rx_no_light"`
	// Flags are the lane's alarm, warning and status flags, nil when the
	// module does not implement them.
	Flags *LaneFlags `json:"flags"`
}

// Limits are the four thresholds of one quantity, in that quantity's unit.
type Limits struct {
	// HighAlarm is the high alarm threshold.
	HighAlarm float64 `json:"high_alarm"`
	// LowAlarm is the low alarm threshold.
	LowAlarm float64 `json:"low_alarm"`
	// HighWarning is the high warning threshold.
	HighWarning float64 `json:"high_warning"`
	// LowWarning is the low warning threshold.
	LowWarning float64 `json:"low_warning"`
}

// Thresholds are a module's own alarm and warning limits. Power limits are
// given in mW and in dBm (a limit of 0 mW becomes MinPowerDBm).
type Thresholds struct {
	// TempCelsius limits the module temperature.
	TempCelsius Limits `json:"temp_celsius"`
	// VccVolts limits the supply voltage.
	VccVolts Limits `json:"vcc_volts"`
	// TxBiasMA limits each lane's bias current.
	TxBiasMA Limits `json:"tx_bias_ma"`
	// TxPowerMW limits each lane's Tx power.
	TxPowerMW Limits `json:"tx_power_mw"`
	// TxPowerDBm is TxPowerMW in dBm.
	TxPowerDBm Limits `json:"tx_power_dbm"`
	// RxPowerMW limits each lane's Rx power.
	RxPowerMW Limits `json:"rx_power_mw"`
	// RxPowerDBm is RxPowerMW in dBm.
	RxPowerDBm Limits `json:"rx_power_dbm"`
}

// Levels are the four alarm and warning flags of one quantity, as the
// module raised them. SFF-8636 and CMIS latch them and clear them on read,
// so a flag may describe an excursion since the previous read.
type Levels struct {
	// HighAlarm is set when the value crossed the high alarm threshold.
	HighAlarm bool `json:"high_alarm"`
	// LowAlarm is set when the value crossed the low alarm threshold.
	LowAlarm bool `json:"low_alarm"`
	// HighWarning is set when the value crossed the high warning threshold.
	HighWarning bool `json:"high_warning"`
	// LowWarning is set when the value crossed the low warning threshold.
	LowWarning bool `json:"low_warning"`
}

// Any reports whether any of the four flags is set.
func (l Levels) Any() bool { return l.HighAlarm || l.LowAlarm || l.HighWarning || l.LowWarning }

// Flags are a module's module-level alarm and warning flags.
type Flags struct {
	// Temp flags the module temperature.
	Temp Levels `json:"temp"`
	// Vcc flags the supply voltage.
	Vcc Levels `json:"vcc"`
}

// LaneFlags are one lane's alarm, warning and status flags.
type LaneFlags struct {
	// TxBias flags the bias current.
	TxBias Levels `json:"tx_bias"`
	// TxPower flags the Tx power.
	TxPower Levels `json:"tx_power"`
	// RxPower flags the Rx power.
	RxPower Levels `json:"rx_power"`
	// TxFault is set when the transmitter reports a fault.
	TxFault bool `json:"tx_fault"`
	// TxLOS is set on loss of signal at the electrical Tx input (SFF-8636, CMIS).
	TxLOS bool `json:"tx_los"`
	// RxLOS is set on loss of optical signal at the receiver.
	RxLOS bool `json:"rx_los"`
}
