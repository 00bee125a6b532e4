//! `cloudid-mock`'s integration tests, one binary: the command line, the SigV4 test suite, and
//! fuzzing the parsers with arbitrary input.

mod cli;
mod fuzz;
mod sigv4_suite;
