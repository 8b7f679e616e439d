//! Reading capture files (pcap and pcapng) frame by frame, with their capture times.
//!
//! Only Ethernet frames are yielded (the XDP program parses Ethernet); frames of other link
//! types are counted by the caller through [`Frame::ethernet`].

use std::{
    cell::Cell,
    fs::File,
    io::{BufReader, Read},
    path::{Path, PathBuf},
    rc::Rc,
};

use pcap_file::{
    DataLink,
    pcap::PcapReader,
    pcapng::{Block, PcapNgReader},
};

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// The captured bytes.
    pub data: Vec<u8>,
    /// Whether the frame's link type is Ethernet.
    pub ethernet: bool,
}

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be opened.
    #[error("failed to open {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a capture this reader understands, or is corrupt.
    #[error("failed to read {path} as pcap or pcapng")]
    Format {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: pcap_file::PcapError,
    },
}

/// A file that counts the bytes read from it, for progress: the readers own their input
/// and do not say how far they are.
struct Counted {
    file: File,
    read: Rc<Cell<u64>>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

type Input = BufReader<Counted>;

enum Inner {
    Pcap(PcapReader<Input>, bool),
    PcapNg(PcapNgReader<Input>, Vec<DataLink>),
}

/// A capture file, read frame by frame.
pub struct Capture {
    inner: Inner,
    path: PathBuf,
    read: Rc<Cell<u64>>,
}

impl Capture {
    /// Opens `path`; pcapng is recognised by its first block, anything else read as pcap.
    pub fn open(path: &Path) -> Result<Self, PcapError> {
        let read = Rc::new(Cell::new(0));
        let open = || {
            read.set(0);
            File::open(path)
                .map(|file| {
                    BufReader::new(Counted {
                        file,
                        read: Rc::clone(&read),
                    })
                })
                .map_err(|source| PcapError::Open {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let format = |source| PcapError::Format {
            path: path.to_path_buf(),
            source,
        };
        let inner = if let Ok(ng) = PcapNgReader::new(open()?) {
            Inner::PcapNg(ng, Vec::new())
        } else {
            let pcap = PcapReader::new(open()?).map_err(format)?;
            let ethernet = pcap.header().datalink == DataLink::ETHERNET;
            Inner::Pcap(pcap, ethernet)
        };
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            read,
        })
    }

    /// Bytes of the file read so far (ahead of the frames yielded by at most a buffer).
    pub fn bytes_read(&self) -> u64 {
        self.read.get()
    }

    /// The next frame, `None` at the end; a corrupt record ends the file with an error.
    pub fn next_frame(&mut self) -> Option<Result<Frame, PcapError>> {
        let format = |source| PcapError::Format {
            path: self.path.clone(),
            source,
        };
        match &mut self.inner {
            Inner::Pcap(reader, ethernet) => {
                let packet = reader.next_packet()?;
                Some(packet.map_err(format).map(|p| Frame {
                    ts_ns: p.timestamp.as_nanos() as u64,
                    data: p.data.into_owned(),
                    ethernet: *ethernet,
                }))
            }
            Inner::PcapNg(reader, links) => loop {
                match reader.next_block()? {
                    Err(e) => return Some(Err(format(e))),
                    Ok(Block::InterfaceDescription(idb)) => links.push(idb.linktype),
                    Ok(Block::EnhancedPacket(epb)) => {
                        let ethernet =
                            links.get(epb.interface_id as usize) == Some(&DataLink::ETHERNET);
                        return Some(Ok(Frame {
                            ts_ns: epb.timestamp.as_nanos() as u64,
                            data: epb.data.into_owned(),
                            ethernet,
                        }));
                    }
                    Ok(_) => {}
                }
            },
        }
    }
}
