//! Sans-I/O tests of the connection state machine.
