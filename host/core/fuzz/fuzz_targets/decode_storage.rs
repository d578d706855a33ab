//! Input: `[selector][record]`; an even selector reads a certificate record,
//! an odd one a pacemaker record. A corrupt record must be an error, never a
//! panic, and whatever decodes must re-encode to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ocr_core::wire;

fuzz_target!(|data: &[u8]| {
    let [selector, record @ ..] = data else { return };
    if selector % 2 == 0 {
        if let Ok(certificate) = wire::decode_certificate(record) {
            assert_eq!(wire::encode_certificate(&certificate), record);
        }
    } else if let Ok(state) = wire::decode_pacemaker(record) {
        assert_eq!(wire::encode_pacemaker(&state), record);
    }
});
