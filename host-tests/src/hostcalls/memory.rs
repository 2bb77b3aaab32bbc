//! Reading and writing the plugin's linear memory from host functions.
//!
//! Every pointer and length comes from the plugin; a bad one answers
//! `INVALID_MEMORY_ACCESS` instead of touching host memory or panicking.

use crate::abi::Status;
use crate::state::HostState;
use wasmtime::{Caller, Extern, Val};

/// A host function's failure: a status for the plugin, or a trap.
#[derive(Debug)]
pub enum Fail {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for Fail {
    fn from(s: Status) -> Fail {
        Fail::Status(s)
    }
}

impl From<wasmtime::Error> for Fail {
    fn from(e: wasmtime::Error) -> Fail {
        Fail::Trap(e)
    }
}

/// Turns a host function's outcome into its ABI return value, or a trap.
pub fn finish(r: Result<(), Fail>) -> wasmtime::Result<i32> {
    match r {
        Ok(()) => Ok(Status::Ok as i32),
        Err(Fail::Status(s)) => Ok(s as i32),
        Err(Fail::Trap(e)) => Err(e),
    }
}

fn memory(caller: &mut Caller<'_, HostState>) -> Result<wasmtime::Memory, Fail> {
    if let Some(m) = caller.data().memory {
        return Ok(m);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(Fail::Trap(wasmtime::format_err!(
            "the plugin exports no linear memory named `memory`"
        ))),
    }
}

/// Copies `len` bytes at `ptr` out of the plugin.
pub fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<Vec<u8>, Fail> {
    let mem = memory(caller)?;
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    let data = mem.data(&caller);
    let end = start.checked_add(len).ok_or(Status::InvalidMemoryAccess)?;
    data.get(start..end)
        .map(|s| s.to_vec())
        .ok_or(Fail::Status(Status::InvalidMemoryAccess))
}

/// Reads a string argument (keys, names, paths); invalid UTF-8 is replaced
/// rather than refused, as the hosts compare bytes.
pub fn read_str(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<String, Fail> {
    Ok(String::from_utf8_lossy(&read(caller, ptr, len)?).into_owned())
}

/// Writes bytes into the plugin's memory at `ptr`.
pub fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> Result<(), Fail> {
    let mem = memory(caller)?;
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(bytes.len())
        .ok_or(Status::InvalidMemoryAccess)?;
    let data = mem.data_mut(caller);
    let slot = data
        .get_mut(start..end)
        .ok_or(Status::InvalidMemoryAccess)?;
    slot.copy_from_slice(bytes);
    Ok(())
}

pub fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, v: u32) -> Result<(), Fail> {
    write(caller, ptr, &v.to_le_bytes())
}

pub fn write_u64(caller: &mut Caller<'_, HostState>, ptr: i32, v: u64) -> Result<(), Fail> {
    write(caller, ptr, &v.to_le_bytes())
}

/// Allocates `size` bytes in the plugin through its allocation export
/// (`proxy_on_memory_allocate`, or `malloc` for older SDKs).
pub fn allocate(caller: &mut Caller<'_, HostState>, size: usize) -> Result<i32, Fail> {
    if let Some(alloc) = caller.data().alloc.clone() {
        let ptr = alloc.call(&mut *caller, size as i32).map_err(Fail::Trap)?;
        if ptr == 0 && size > 0 {
            return Err(Fail::Status(Status::InternalFailure));
        }
        return Ok(ptr);
    }
    let func = ["proxy_on_memory_allocate", "malloc"]
        .iter()
        .find_map(|name| caller.get_export(name).and_then(Extern::into_func))
        .ok_or_else(|| {
            Fail::Trap(wasmtime::format_err!(
                "the plugin exports neither `proxy_on_memory_allocate` nor `malloc`"
            ))
        })?;
    let mut out = [Val::I32(0)];
    func.call(&mut *caller, &[Val::I32(size as i32)], &mut out)
        .map_err(Fail::Trap)?;
    let ptr = out[0].i32().unwrap_or(0);
    if ptr == 0 && size > 0 {
        return Err(Fail::Status(Status::InternalFailure));
    }
    Ok(ptr)
}

/// Hands bytes to the plugin the ABI's way: allocate in the plugin, copy,
/// and store the pointer and size at the two return pointers.
pub fn return_bytes(
    caller: &mut Caller<'_, HostState>,
    bytes: &[u8],
    ret_data: i32,
    ret_size: i32,
) -> Result<(), Fail> {
    let ptr = if bytes.is_empty() {
        0
    } else {
        allocate(caller, bytes.len())?
    };
    if !bytes.is_empty() {
        write(caller, ptr, bytes)?;
    }
    write_u32(caller, ret_data, ptr as u32)?;
    write_u32(caller, ret_size, bytes.len() as u32)
}

/// A trap with a message that names what the plugin did.
pub fn trap(msg: impl Into<String>) -> Fail {
    Fail::Trap(wasmtime::format_err!(msg.into()))
}

pub type Call<'a> = Caller<'a, HostState>;
