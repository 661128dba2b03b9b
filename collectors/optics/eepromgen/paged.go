package eepromgen

import "github.com/anydiag/anydiag/collectors/optics"

// QSFP28Values describe a QSFP28 (SFF-8636) module.
type QSFP28Values struct {
	// Identity is the vendor data.
	Identity Identity
	// TempCelsius is the module temperature.
	TempCelsius float64
	// VccVolts is the supply voltage.
	VccVolts float64
	// Lanes are lanes 1 to 4.
	Lanes [4]LaneValues
	// Thresholds are the module's limits; nil means LR().
	Thresholds *Thresholds
	// FlatMem makes a flat-memory module: no page 03h, so no thresholds
	// (the image is then 256 bytes).
	FlatMem bool
}

// limitWords encodes four limits through enc, in map order.
func limitWords(l optics.Limits, enc func(float64) uint16) [4]uint16 {
	return [4]uint16{enc(l.HighAlarm), enc(l.LowAlarm), enc(l.HighWarning), enc(l.LowWarning)}
}

func putLimits(b []byte, off int, w [4]uint16) {
	for i, v := range w {
		put(b, off+2*i, v)
	}
}

// levelBits returns the module's flags for value x against limits w:
// high alarm, low alarm, high warning, low warning.
func levelBits(x float64, w [4]uint16, signed bool) [4]bool {
	n := func(v uint16) float64 {
		if signed {
			return float64(int16(v))
		}
		return float64(v)
	}
	return [4]bool{x > n(w[0]), x < n(w[1]), x > n(w[2]), x < n(w[3])}
}

func encTemp(c float64) uint16  { return sword(rawTemp(c)) }
func encVcc(v float64) uint16   { return word(rawVcc(v)) }
func encPower(d float64) uint16 { return power(d, false) }

// QSFP28 returns the SFF-8636 image of the module v describes in the
// legacy flat layout: 640 bytes (lower page, pages 00h-03h), or 256 for a
// flat-memory module.
func QSFP28(v QSFP28Values) []byte {
	th := LR()
	if v.Thresholds != nil {
		th = *v.Thresholds
	}
	id := defaults(v.Identity, "ANYDIAG", "QSFP28-100G-LR4", 1310)
	n := 640
	if v.FlatMem {
		n = 256
	}
	b := make([]byte, n)
	b[0], b[1] = 0x11, 0x08 // QSFP28, SFF-8636 rev 2.7+
	if v.FlatMem {
		b[2] = 0x04
	}
	temp, vcc := encTemp(v.TempCelsius), encVcc(v.VccVolts)
	put(b, 22, temp)
	put(b, 26, vcc)
	tw, vw := limitWords(th.TempCelsius, encTemp), limitWords(th.VccVolts, encVcc)
	bw := limitWords(th.TxBiasMA, func(x float64) uint16 { return word(rawBias(x)) })
	txw, rxw := limitWords(th.TxPowerDBm, encPower), limitWords(th.RxPowerDBm, encPower)
	nibble := func(f [4]bool) byte {
		var v byte
		for i, on := range f {
			if on {
				v |= 0x8 >> i
			}
		}
		return v
	}
	b[6] = nibble(levelBits(float64(int16(temp)), tw, true)) << 4
	b[7] = nibble(levelBits(float64(vcc), vw, false)) << 4
	for i, l := range v.Lanes {
		rx, bias, tx := power(l.RxPowerDBm, l.RxNoLight), word(rawBias(l.TxBiasMA)), power(l.TxPowerDBm, l.TxNoLight)
		put(b, 34+2*i, rx)
		put(b, 42+2*i, bias)
		put(b, 50+2*i, tx)
		shift := 4 * (1 - i%2)
		b[9+i/2] |= nibble(levelBits(float64(rx), rxw, false)) << shift
		b[11+i/2] |= nibble(levelBits(float64(bias), bw, false)) << shift
		b[13+i/2] |= nibble(levelBits(float64(tx), txw, false)) << shift
		if l.RxNoLight || l.RxPowerDBm <= -30 {
			b[3] |= 1 << i
		}
	}
	p0 := b[128:256]
	p0[0], p0[2] = 0x11, 0x07 // identifier, LC
	p0[3] = 0x80              // 100GBASE-LR4 (extended compliance below)
	p0[19] = 0x40             // transmitter technology: 1310 nm DFB
	putText(b, 148, 16, id.Vendor)
	b[165], b[166], b[167] = 0x00, 0x90, 0x65
	putText(b, 168, 16, id.PartNumber)
	putText(b, 184, 2, "A")
	put(b, 186, word(id.WavelengthNM*20))
	b[191] = sum(b[128:191])
	putText(b, 196, 16, id.Serial)
	putText(b, 212, 8, "260101")
	b[220] = 0x20 | 0x10 | 0x08 | 0x04 // temp, Vcc, average Rx, Tx power
	b[223] = sum(b[192:223])
	if !v.FlatMem {
		p3 := b[512:640]
		putLimits(p3, 0, tw)
		putLimits(p3, 16, vw)
		putLimits(p3, 48, rxw)
		putLimits(p3, 56, bw)
		putLimits(p3, 64, txw)
	}
	return b
}

// CMISValues describe a CMIS module (QSFP-DD by default).
type CMISValues struct {
	// Identity is the vendor data.
	Identity Identity
	// Identifier is the SFF-8024 identifier; 0 means 0x18 (QSFP-DD).
	Identifier byte
	// TempCelsius is the module temperature.
	TempCelsius float64
	// VccVolts is the supply voltage.
	VccVolts float64
	// Banks is 1, 2 or 4 (0 means 1); each bank holds 8 lanes.
	Banks int
	// Lanes are the lanes in order. With one bank their number (1-8) is
	// the media lane count the module advertises; with more banks each
	// bank has 8 lanes and lanes not given read as dark.
	Lanes []LaneValues
	// TxBiasMultiplier is 1, 2 or 4 (0 means 1): the module stores bias in
	// 2 µA × multiplier units, for lasers driven beyond 131 mA.
	TxBiasMultiplier int
	// Thresholds are the module's limits; nil means LR().
	Thresholds *Thresholds
	// Flat makes a flat-memory module: lower page and page 00h only.
	Flat bool
}

// CMIS returns the image of the module v describes in the flat layout
// optics.Image.Flat defines: page p of bank b at 128+128·(256·b+p).
func CMIS(v CMISValues) []byte {
	th := LR()
	if v.Thresholds != nil {
		th = *v.Thresholds
	}
	ident := v.Identifier
	if ident == 0 {
		ident = 0x18
	}
	banks := max(v.Banks, 1)
	mult := max(v.TxBiasMultiplier, 1)
	id := defaults(v.Identity, "ANYDIAG", "QDD-400G-LR4", 1310)
	img := &optics.Image{Lower: make([]byte, 128), Upper: map[optics.Page][]byte{}}
	lo := img.Lower
	lo[0], lo[1], lo[3] = ident, 0x50, 3<<1 // CMIS 5.0, ModuleReady
	if v.Flat {
		lo[2] = 0x80
	}
	temp, vcc := encTemp(v.TempCelsius), encVcc(v.VccVolts)
	put(lo, 14, temp)
	put(lo, 16, vcc)
	tw, vw := limitWords(th.TempCelsius, encTemp), limitWords(th.VccVolts, encVcc)
	for i, on := range levelBits(float64(int16(temp)), tw, true) {
		setBit(lo, 9, i, on)
	}
	for i, on := range levelBits(float64(vcc), vw, false) {
		setBit(lo, 9, 4+i, on)
	}
	// First application: 400GAUI-8 host side; the media lane count tells a
	// single-bank decoder how many lanes exist (Lanes, or 8 when unset).
	media := byte(8)
	if n := len(v.Lanes); banks == 1 && n >= 1 && n <= 8 {
		media = byte(n)
	}
	lo[86], lo[87], lo[88], lo[89] = 0x11, 0x0f, 0x80|media, 0x01
	page := func(bank, p uint8) []byte {
		b := make([]byte, 256) // spec offsets 128-255 index [128:]
		img.Upper[optics.Page{Bank: bank, Page: p}] = b[128:]
		return b
	}
	p0 := page(0, 0)
	p0[128] = ident
	putText(p0, 129, 16, id.Vendor)
	p0[145], p0[146], p0[147] = 0x00, 0x90, 0x65
	putText(p0, 148, 16, id.PartNumber)
	putText(p0, 164, 2, "A")
	putText(p0, 166, 16, id.Serial)
	putText(p0, 182, 8, "260101")
	p0[203] = 0x07 // LC
	p0[212] = 0x04 // 1310 nm DFB
	p0[222] = sum(p0[128:222])
	if !v.Flat {
		p1 := page(0, 1)
		put(p1, 138, word(id.WavelengthNM*20))
		p1[142] = map[int]byte{1: 0, 2: 1, 4: 2}[banks]
		p1[151] = 0x10
		p1[159] = 0x03
		p1[160] = 0x07 | map[int]byte{1: 0, 2: 1, 4: 2}[mult]<<3
		encBias := func(x float64) uint16 { return word(rawBias(x) / float64(mult)) }
		bw := limitWords(th.TxBiasMA, encBias)
		txw, rxw := limitWords(th.TxPowerDBm, encPower), limitWords(th.RxPowerDBm, encPower)
		p2 := page(0, 2)
		putLimits(p2, 128, tw)
		putLimits(p2, 136, vw)
		putLimits(p2, 176, txw)
		putLimits(p2, 184, bw)
		putLimits(p2, 192, rxw)
		for bank := range banks {
			p11 := page(uint8(bank), 0x11)
			for i := range 8 {
				l := LaneValues{RxNoLight: true, TxNoLight: true}
				if n := bank*8 + i; n < len(v.Lanes) {
					l = v.Lanes[n]
				}
				tx, bias, rx := power(l.TxPowerDBm, l.TxNoLight), encBias(l.TxBiasMA), power(l.RxPowerDBm, l.RxNoLight)
				put(p11, 154+2*i, tx)
				put(p11, 170+2*i, bias)
				put(p11, 186+2*i, rx)
				for j, on := range levelBits(float64(tx), txw, false) {
					setBit(p11, 139+j, i, on)
				}
				for j, on := range levelBits(float64(bias), bw, false) {
					setBit(p11, 143+j, i, on)
				}
				for j, on := range levelBits(float64(rx), rxw, false) {
					setBit(p11, 149+j, i, on)
				}
				setBit(p11, 147, i, l.RxNoLight || l.RxPowerDBm <= -30)
			}
		}
	}
	return img.Flat()
}
