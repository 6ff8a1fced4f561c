//! `lpc expand`: a program as the flat program it means, one job per
//! iteration in program order, every index a number. Its output is itself
//! a valid program (the flat form is the loop form without loops), with the
//! same jobs, names and DAG, so it is what to diff, grep or hand-edit when
//! the loop form is in question.
//!
//! Registers are renamed `%0, %1, ...` in order of definition, and a tile
//! operand of a kernel (an implicit load) is printed as the `S3_LOAD` it
//! stands for. Output is streamed: an expansion of millions of jobs costs
//! the memory of one job.

use lp_program::{Instr, Plan, Program, TileRef};
use std::io::{self, Write};

/// The declaration of every matrix, as source.
fn declarations(program: &Program, out: &mut impl Write) -> io::Result<()> {
    for info in &program.matrices {
        let h = &info.header;
        let versions = if info.versions.is_empty() {
            String::new()
        } else {
            let v: Vec<String> = info.versions.iter().map(|v| v.to_string()).collect();
            format!("[{}]", v.join(", "))
        };
        write!(
            out,
            "matrix {}{versions} : {} {}",
            info.name,
            h.declared_type(),
            info.role.name()
        )?;
        if let Some(base) = info.base {
            write!(out, " = {}", program.matrices[base as usize].name)?;
        } else if let Some(init) = &info.init {
            write!(out, " = {}", init.call())?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn tile(program: &Program, t: &TileRef, values: &[i64], out: &mut impl Write) -> io::Result<()> {
    write!(out, "{}[", program.matrices[t.matrix as usize].name)?;
    for (k, e) in t.index.iter().enumerate() {
        let v = e
            .eval(values)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))?;
        write!(out, "{}{v}", if k > 0 { ", " } else { "" })?;
    }
    write!(out, "]")
}

/// Writes the flat expansion of `plan`'s program; `header` is a comment
/// put first (one line per `\n`).
pub fn write_flat(plan: &Plan, header: &str, out: &mut impl Write) -> io::Result<()> {
    let program = plan.program();
    for line in header.lines() {
        writeln!(out, "; {line}")?;
    }
    declarations(program, out)?;
    let mut result = Ok(());
    plan.walk(&mut |f, values, _| {
        result = job(program, f, values, out);
        result.is_ok()
    });
    result
}

fn job(program: &Program, f: u32, values: &[i64], out: &mut impl Write) -> io::Result<()> {
    let family = &program.families[f as usize];
    write!(out, "\n{}:", program.job_name(family, values))?;
    // A priority that does not evaluate ranks below every value, which no
    // number states: the flat program's does not evaluate either, and a
    // comment gives the loop program's reason. i64::MIN has no literal.
    match family.priority.as_ref().map(|p| p.eval(values)) {
        Some(Ok(i64::MIN)) => write!(out, " priority -{} - 1", i64::MAX)?,
        Some(Ok(p)) => write!(out, " priority {p}")?,
        Some(Err(e)) => write!(out, " priority {} + 1 ; does not evaluate ({e})", i64::MAX)?,
        None => {}
    }
    writeln!(out)?;
    // Registers renamed in order of definition: %0, %1, ...
    let mut names = vec![u32::MAX; family.num_regs as usize];
    let mut next = 0;
    let mut name = |r: u32, define: bool| -> u32 {
        let slot = &mut names[r as usize];
        if define && *slot == u32::MAX {
            *slot = next;
            next += 1;
        }
        *slot
    };
    for instr in &family.instrs {
        match instr {
            Instr::Load { dst, tile: t } => {
                write!(out, "    %{} = S3_LOAD ", name(*dst, true))?;
                tile(program, t, values, out)?;
            }
            Instr::Write { tile: t, src } => {
                write!(out, "    S3_WRITE ")?;
                tile(program, t, values, out)?;
                write!(out, ", %{}", name(*src, false))?;
            }
            Instr::Apply { dsts, kernel, args } => {
                let dsts: Vec<String> = dsts
                    .iter()
                    .map(|&d| format!("%{}", name(d, true)))
                    .collect();
                let args: Vec<String> = args
                    .iter()
                    .map(|&a| format!("%{}", name(a, false)))
                    .collect();
                write!(
                    out,
                    "    {} = {} {}",
                    dsts.join(", "),
                    kernel.name(),
                    args.join(", ")
                )?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}
