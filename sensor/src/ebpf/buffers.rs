//! Which of the two programs an interface needs: the one for frames that fit one buffer, or
//! the one for frames that may span several (`LoadOptions::multi_buffer`).
//!
//! The kernel hands a program loaded without frags only frames that fit one buffer; a
//! driver refuses to attach such a program when the interface's MTU could not fit, and
//! generic (skb) mode linearises a longer frame first. So for an interface whose MTU fits,
//! the program can take the frame's length from the packet bounds instead of a helper call
//! per packet, and still count every byte.

use std::{fs, path::Path};

/// The largest MTU taken to fit one buffer. A 4 KiB page less XDP's headroom and the
/// shared info leaves 3,504 bytes on veth and about 3,000 on common NIC drivers (i40e and
/// ixgbe use 3 KiB buffers); 1,500 is the usual MTU, 9,000 the usual jumbo one.
pub const SINGLE_BUFFER_MAX_MTU: u32 = 3_000;

/// Whether every interface's MTU fits one buffer. An MTU that cannot be read counts as not
/// fitting: the program for several buffers is right for any interface.
pub fn fit_one_buffer(ifaces: &[String]) -> bool {
    ifaces
        .iter()
        .all(|iface| mtu(iface).is_some_and(|mtu| mtu <= SINGLE_BUFFER_MAX_MTU))
}

/// The interface's MTU, from sysfs.
pub fn mtu(iface: &str) -> Option<u32> {
    let path = Path::new("/sys/class/net").join(iface).join("mtu");
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::fit_one_buffer;

    #[test]
    fn loopback_fits_no_buffer_and_an_unknown_interface_counts_as_not_fitting() {
        // Loopback's MTU is 65,536.
        assert!(!fit_one_buffer(&["lo".to_owned()]));
        assert!(!fit_one_buffer(&["no-such-interface-0".to_owned()]));
    }
}
