package optics

// SFF-8636 offsets. Lower-page bytes index Image.Lower; upper-page bytes
// are given as in the spec (128-255) and index the page at offset-128.
const (
	q8636Status   = 2 // bit 2 Flat_mem, bit 0 Data_Not_Ready
	q8636LOS      = 3
	q8636Fault    = 4
	q8636TempFlag = 6
	q8636VccFlag  = 7
	q8636RxFlags  = 9
	q8636BiasFlag = 11
	q8636TxFlags  = 13
	q8636Temp     = 22
	q8636Vcc      = 26
	q8636Rx       = 34
	q8636Bias     = 42
	q8636Tx       = 50

	p0Connector  = 130
	p0DeviceTech = 147
	p0Vendor     = 148
	p0OUI        = 165
	p0PartNumber = 168
	p0Revision   = 184
	p0Wavelength = 186
	p0CCBase     = 191
	p0Serial     = 196
	p0DateCode   = 212
	p0DiagType   = 220
	p0CCExt      = 223

	p3Temp = 128
	p3Vcc  = 144
	p3Rx   = 176
	p3Bias = 184
	p3Tx   = 192
)

// upperView returns the upper page as a 256-byte view so spec offsets
// (128-255) index it directly; the lower half of the view is the image's
// lower page, which is what the module would present at those addresses.
func upperView(lower, page []byte) []byte {
	v := make([]byte, 2*PageLen)
	copy(v, lower)
	copy(v[PageLen:], page)
	return v
}

func decodeSFF8636(img *Image) (*Module, error) {
	lo := img.Lower
	m := &Module{
		Standard:         SFF8636,
		TxBiasMultiplier: 1,
		RxPowerType:      "OMA",
		Identity:         Identity{Identifier: lo[0], Type: identifierName(lo[0])},
		Monitors:         Monitors{Temp: true, Vcc: true, TxBias: true, RxPower: true},
	}
	if lo[q8636Status]&0x01 != 0 {
		m.note("the module reports Data_Not_Ready (byte 2 bit 0): monitor values may not be valid yet")
	}
	if p := img.page(0, 0); p != nil {
		u := upperView(lo, p)
		m.Identity.Connector = connectorName(u[p0Connector])
		m.Identity.Vendor = text(u[p0Vendor : p0Vendor+16])
		m.Identity.VendorOUI = oui(u[p0OUI:])
		m.Identity.PartNumber = text(u[p0PartNumber : p0PartNumber+16])
		m.Identity.Revision = text(u[p0Revision : p0Revision+2])
		m.Identity.Serial = text(u[p0Serial : p0Serial+16])
		m.Identity.DateCode = text(u[p0DateCode : p0DateCode+8])
		// Transmitter technology 1010b and above is copper: bytes 186-187
		// then hold cable attenuation, not a wavelength.
		if u[p0DeviceTech]>>4 < 0x0a {
			m.Identity.WavelengthNM = float64(u16(u, p0Wavelength)) / 20
		}
		diag := u[p0DiagType]
		m.Monitors.Temp = diag&0x20 != 0
		m.Monitors.Vcc = diag&0x10 != 0
		m.Monitors.TxPower = diag&0x04 != 0
		if diag&0x08 != 0 {
			m.RxPowerType = "average"
		}
		m.noteIf(checksum("page 00h CC_BASE (bytes 128-190)", u[128:p0CCBase], u[p0CCBase]))
		m.noteIf(checksum("page 00h CC_EXT (bytes 192-222)", u[192:p0CCExt], u[p0CCExt]))
	} else {
		m.note("page 00h is not in the image: no identity, monitor support assumed")
	}

	m.TempCelsius = rawTemp(lo, q8636Temp)
	m.VccVolts = rawVcc(lo, q8636Vcc)
	m.Flags = &Flags{
		Temp: levels(lo[q8636TempFlag], 7, 6, 5, 4),
		Vcc:  levels(lo[q8636VccFlag], 7, 6, 5, 4),
	}
	m.Lanes = make([]Lane, 4)
	for i := range 4 {
		l := Lane{Lane: i + 1, TxBiasMA: rawBias(lo, q8636Bias+2*i)}
		l.setPower(rawPower(lo, q8636Tx+2*i), rawPower(lo, q8636Rx+2*i))
		// Lanes 1 and 3 sit in the high nibble, 2 and 4 in the low one.
		hi := uint(4 * (1 - i%2))
		flag := func(base int) Levels { return levels(lo[base+i/2], hi+3, hi+2, hi+1, hi) }
		l.Flags = &LaneFlags{
			RxPower: flag(q8636RxFlags),
			TxBias:  flag(q8636BiasFlag),
			TxPower: flag(q8636TxFlags),
			TxLOS:   lo[q8636LOS]&(0x10<<i) != 0,
			RxLOS:   lo[q8636LOS]&(0x01<<i) != 0,
			TxFault: lo[q8636Fault]&(0x01<<i) != 0,
		}
		m.Lanes[i] = l
	}

	switch p3 := img.page(0, 3); {
	case lo[q8636Status]&0x04 != 0:
		m.note("flat memory module (byte 2 bit 2): it has no page 03h, so no thresholds")
	case p3 == nil:
		m.note("page 03h (thresholds) is not in the image")
	default:
		u := upperView(lo, p3)
		th := &Thresholds{
			TempCelsius: limits(u, p3Temp, rawTemp),
			VccVolts:    limits(u, p3Vcc, rawVcc),
			TxBiasMA:    limits(u, p3Bias, rawBias),
		}
		th.TxPowerMW, th.TxPowerDBm = powerLimits(limits(u, p3Tx, rawPower))
		th.RxPowerMW, th.RxPowerDBm = powerLimits(limits(u, p3Rx, rawPower))
		m.Thresholds = th
	}
	return m, nil
}
