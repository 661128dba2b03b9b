package optics

import "fmt"

// CMIS offsets (OIF-CMIS 5), spec addresses; upper-page addresses index a
// 256-byte view built by upperView.
const (
	cmisMemModel = 2 // bit 7: 1 = flat memory
	cmisState    = 3 // bits 3-1: module state
	cmisModFlags = 9
	cmisTemp     = 14
	cmisVcc      = 16
	cmisApp1     = 86 // first application descriptor, 4 bytes

	c0Vendor     = 129
	c0OUI        = 145
	c0PartNumber = 148
	c0Revision   = 164
	c0Serial     = 166
	c0DateCode   = 182
	c0Connector  = 203
	c0MediaTech  = 212
	c0CC         = 222

	c1Wavelength = 138
	c1Banks      = 142
	c1DiagType   = 151 // bit 4: Rx power is average
	c1ModMon     = 159 // bit 0 temp, bit 1 Vcc
	c1LaneMon    = 160 // bit 0 bias, bit 1 Tx power, bit 2 Rx power, bits 4-3 bias multiplier

	c2Temp = 128
	c2Vcc  = 136
	c2Tx   = 176
	c2Bias = 184
	c2Rx   = 192

	c11TxFault   = 135
	c11TxLOS     = 136
	c11TxPwrFlag = 139
	c11BiasFlag  = 143
	c11RxLOS     = 147
	c11RxPwrFlag = 149
	c11Tx        = 154
	c11Bias      = 170
	c11Rx        = 186

	cmisLanesPerBank = 8
)

// cmisBanks returns how many banks a CMIS module advertises in page 01h
// byte 142 bits 1-0 (0: one, 1: two, 2: four; 3 is reserved).
func cmisBanks(p1 []byte) (int, error) {
	switch v := p1[c1Banks-PageLen] & 0x03; v {
	case 0:
		return 1, nil
	case 1:
		return 2, nil
	case 2:
		return 4, nil
	default:
		return 0, fmt.Errorf("optics: %w: CMIS page 01h byte 142 advertises the reserved bank code %d", ErrCorrupt, v)
	}
}

var cmisStates = [8]string{0: "reserved (0)", 1: "ModuleLowPwr", 2: "ModulePwrUp", 3: "ModuleReady", 4: "ModulePwrDn", 5: "ModuleFault", 6: "reserved (6)", 7: "reserved (7)"}

func decodeCMIS(img *Image) (*Module, error) {
	lo := img.Lower
	m := &Module{
		Standard:         CMIS,
		TxBiasMultiplier: 1,
		RxPowerType:      "OMA",
		Identity:         Identity{Identifier: lo[0], Type: identifierName(lo[0])},
		Monitors:         Monitors{Temp: true, Vcc: true},
		TempCelsius:      rawTemp(lo, cmisTemp),
		VccVolts:         rawVcc(lo, cmisVcc),
		Lanes:            []Lane{},
		Flags: &Flags{
			Temp: levels(lo[cmisModFlags], 0, 1, 2, 3),
			Vcc:  levels(lo[cmisModFlags], 4, 5, 6, 7),
		},
	}
	if st := (lo[cmisState] >> 1) & 0x07; st != 3 {
		m.note("module state is %s, not ModuleReady: lane monitors may not be valid", cmisStates[st])
	}
	if p := img.page(0, 0); p != nil {
		u := upperView(lo, p)
		m.Identity.Vendor = text(u[c0Vendor : c0Vendor+16])
		m.Identity.VendorOUI = oui(u[c0OUI:])
		m.Identity.PartNumber = text(u[c0PartNumber : c0PartNumber+16])
		m.Identity.Revision = text(u[c0Revision : c0Revision+2])
		m.Identity.Serial = text(u[c0Serial : c0Serial+16])
		m.Identity.DateCode = text(u[c0DateCode : c0DateCode+8])
		m.Identity.Connector = connectorName(u[c0Connector])
		m.noteIf(checksum("page 00h checksum (bytes 128-221)", u[128:c0CC], u[c0CC]))
	} else {
		m.note("page 00h is not in the image: no identity")
	}
	if lo[cmisMemModel]&0x80 != 0 {
		m.note("flat memory module (byte 2 bit 7): no pages 01h, 02h, 11h, so no lanes or thresholds")
		return m, nil
	}

	banks, mult := 1, 1
	p1 := img.page(0, 1)
	if p1 == nil {
		m.note("page 01h is not in the image: lane monitors assumed, Tx bias multiplier assumed 1")
		m.Monitors.TxBias, m.Monitors.TxPower, m.Monitors.RxPower = true, true, true
	} else {
		u := upperView(lo, p1)
		var err error
		if banks, err = cmisBanks(p1); err != nil {
			return nil, err
		}
		copper := false
		if p0 := img.page(0, 0); p0 != nil {
			copper = p0[c0MediaTech-PageLen] >= 0x0a
		}
		if !copper {
			m.Identity.WavelengthNM = float64(u16(u, c1Wavelength)) / 20
		}
		if u[c1DiagType]&0x10 != 0 {
			m.RxPowerType = "average"
		}
		m.Monitors.Temp = u[c1ModMon]&0x01 != 0
		m.Monitors.Vcc = u[c1ModMon]&0x02 != 0
		lm := u[c1LaneMon]
		m.Monitors.TxBias, m.Monitors.TxPower, m.Monitors.RxPower = lm&0x01 != 0, lm&0x02 != 0, lm&0x04 != 0
		switch s := (lm >> 3) & 0x03; s {
		case 0, 1, 2:
			// The spec scales the 2 µA unit up by the factor; ethtool
			// shifts right, dividing by it instead.
			mult = 1 << s
		default:
			m.note("page 01h byte 160 Tx bias multiplier code 3 is reserved: multiplier 1 used")
		}
	}
	m.TxBiasMultiplier = mult
	bias := func(b []byte, off int) float64 { return rawBias(b, off) * float64(mult) }

	if p2 := img.page(0, 2); p2 != nil {
		u := upperView(lo, p2)
		th := &Thresholds{
			TempCelsius: limits(u, c2Temp, rawTemp),
			VccVolts:    limits(u, c2Vcc, rawVcc),
			TxBiasMA:    limits(u, c2Bias, bias),
		}
		th.TxPowerMW, th.TxPowerDBm = powerLimits(limits(u, c2Tx, rawPower))
		th.RxPowerMW, th.RxPowerDBm = powerLimits(limits(u, c2Rx, rawPower))
		m.Thresholds = th
	} else {
		m.note("page 02h (thresholds) is not in the image")
	}

	perBank := cmisLanesPerBank
	// A single-bank module with fewer media lanes (a 4-lane QSFP112 on
	// CMIS) says so in its first application descriptor.
	if n := int(lo[cmisApp1+2] & 0x0f); banks == 1 && n >= 1 && n <= cmisLanesPerBank {
		perBank = n
	}
	for b := range banks {
		p := img.page(uint8(b), 0x11)
		if p == nil {
			m.note("page 11h of bank %d is not in the image: lanes %d-%d missing", b, b*cmisLanesPerBank+1, b*cmisLanesPerBank+perBank)
			continue
		}
		u := upperView(lo, p)
		for i := range perBank {
			bit := byte(1) << i
			l := Lane{Lane: b*cmisLanesPerBank + i + 1, TxBiasMA: bias(u, c11Bias+2*i)}
			l.setPower(rawPower(u, c11Tx+2*i), rawPower(u, c11Rx+2*i))
			lv := func(base int) Levels {
				return Levels{HighAlarm: u[base]&bit != 0, LowAlarm: u[base+1]&bit != 0, HighWarning: u[base+2]&bit != 0, LowWarning: u[base+3]&bit != 0}
			}
			l.Flags = &LaneFlags{
				TxPower: lv(c11TxPwrFlag),
				TxBias:  lv(c11BiasFlag),
				RxPower: lv(c11RxPwrFlag),
				TxFault: u[c11TxFault]&bit != 0,
				TxLOS:   u[c11TxLOS]&bit != 0,
				RxLOS:   u[c11RxLOS]&bit != 0,
			}
			m.Lanes = append(m.Lanes, l)
		}
	}
	return m, nil
}
