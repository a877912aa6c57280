//! The BlockFile contract on the native backends: memory and std::fs files.
#![cfg(not(target_arch = "wasm32"))]

use tonystore::storage::{
    contract, BlockFile, FsDir, MemBlockFile, MemDir, StorageError, StoreDir,
};

#[test]
fn mem_dir_meets_the_contract() {
    contract::check_dir(&MemDir::new(), true).unwrap();
}

#[test]
fn fs_dir_meets_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    contract::check_dir(&FsDir::create(tmp.path().join("store")).unwrap(), true).unwrap();
}

#[test]
fn standalone_mem_file_meets_the_contract() {
    contract::check_fresh_file(&MemBlockFile::new("solo")).unwrap();
}

#[test]
fn file_data_persists_across_directory_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let f = FsDir::create(tmp.path()).unwrap().open("data").unwrap();
    contract::write_persistence_marker(&*f).unwrap();
    drop(f);
    let again = FsDir::create(tmp.path()).unwrap().open("data").unwrap();
    contract::check_persistence_marker(&*again).unwrap();
}

#[test]
fn mem_capacity_reports_out_of_space_and_keeps_data() {
    let f = MemBlockFile::with_capacity("small", 16);
    f.write_all_at(0, b"0123456789").unwrap();
    let err = f.write_all_at(8, b"too long for it").unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::OutOfSpace {
                offset: 8,
                len: 15,
                ..
            }
        ),
        "{err:?}"
    );
    let mut buf = [0; 10];
    f.read_exact_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"0123456789", "a failed write changes nothing");
    assert!(
        err.to_string().contains("small"),
        "the message names the file: {err}"
    );
}

#[test]
fn errors_name_the_file() {
    let dir = MemDir::new();
    let f = dir.open("named.log").unwrap();
    let err = f.read_exact_at(3, &mut [0; 2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "read of 2 bytes at offset 3 is past the end of named.log (0 bytes)"
    );
}

/// The contract catches a backend that breaks it: here, one whose holes read as garbage.
#[test]
fn the_contract_reports_a_backend_that_breaks_it() {
    use tonystore::storage::{BlockFile, Result as StorageResult};
    struct Garbage(MemBlockFile);
    impl BlockFile for Garbage {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn len(&self) -> StorageResult<u64> {
            self.0.len()
        }
        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<()> {
            self.0.read_exact_at(offset, buf)?;
            for b in buf.iter_mut().filter(|b| **b == 0) {
                *b = 0xEE;
            }
            Ok(())
        }
        fn write_all_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
            self.0.write_all_at(offset, data)
        }
        fn set_len(&self, len: u64) -> StorageResult<()> {
            self.0.set_len(len)
        }
        fn sync(&self) -> StorageResult<()> {
            self.0.sync()
        }
        fn close(&self) -> StorageResult<()> {
            self.0.close()
        }
    }
    let violation = contract::check_fresh_file(&Garbage(MemBlockFile::new("bad"))).unwrap_err();
    assert!(violation.contains("zero-filled"), "{violation}");
}
