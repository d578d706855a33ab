// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {AggregatorHelpers} from "./Helpers.sol";

/// @notice Gas of a successful transmit for n = 4, 10, 31 (f = 1, 3, 10),
/// printed as log_named_uint (run with -vv). Steady state: one transmit has
/// already happened under the config, then the aggregator's storage is made
/// cold again (vm.cool) as at the start of a new transaction.
///  - "execution": gas used inside the transmit call frame;
///  - "tx": execution + 21000 + calldata (EIP-2028: 4 per zero byte,
///    16 per non-zero byte), or the EIP-7623 floor if higher; no access list.
/// Under `forge test --gas-report` (isolation: each call its own transaction)
/// forge measures the transaction directly; both modes print the same figures.
/// The report carries n observations (the median plugin's typical maximum).
contract TransmitGasTest is AggregatorHelpers {
    function _measure(uint256 n, uint8 f_) internal returns (uint256 execGas, uint256 txGas) {
        bytes memory data;
        uint256 used;
        (used, data) = _transmitOnce(n, f_);
        uint256 intrinsic = _intrinsicGas(data);
        if (_isolated()) {
            // forge --isolate / --gas-report: each call is its own transaction
            // and lastCallGas already is the transaction's gas.
            txGas = used;
            execGas = used - intrinsic;
        } else {
            execGas = used;
            txGas = _txGas(data, used, intrinsic);
        }
        string memory label = string.concat("transmit n=", vm.toString(n), " f=", vm.toString(uint256(f_)));
        emit log_named_uint(string.concat(label, ": calldata bytes"), data.length);
        emit log_named_uint(string.concat(label, ": execution gas"), execGas);
        emit log_named_uint(string.concat(label, ": tx gas (incl. 21000 + calldata)"), txGas);
    }

    function _transmitOnce(uint256 n, uint8 f_) internal returns (uint256 execGas, bytes memory data) {
        vm.warp(1_700_000_100);
        _deploy();
        _configure(n, f_, -1e30, 1e30, 0);
        _transmit(1, _reportN(n, 3_000e8));

        bytes memory report = _reportN(n, 3_001e8);
        bytes32[2] memory ctx = _ctx(2);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(uint256(f_) + 1));
        data = abi.encodeCall(agg.transmit, (ctx, report, rs, ss, rawVs));

        vm.cool(address(agg));
        vm.prank(transmitterAddrs[1]);
        (bool ok,) = address(agg).call(data);
        assertTrue(ok, "transmit failed");
        execGas = vm.lastCallGas().gasTotalUsed;
        assertEq(agg.latestSeqNr(), 2, "seqNr");
    }

    /// @dev 21000 + EIP-2028 calldata cost.
    function _intrinsicGas(bytes memory data) internal pure returns (uint256) {
        (uint256 zeros, uint256 nonZeros) = _countBytes(data);
        return 21000 + 4 * zeros + 16 * nonZeros;
    }

    /// @dev Intrinsic + execution, or the EIP-7623 calldata floor if higher.
    function _txGas(bytes memory data, uint256 execGas, uint256 intrinsic) internal pure returns (uint256) {
        (uint256 zeros, uint256 nonZeros) = _countBytes(data);
        uint256 floor = 21000 + 10 * (zeros + 4 * nonZeros);
        uint256 standard = intrinsic + execGas;
        return standard > floor ? standard : floor;
    }

    function _countBytes(bytes memory data) internal pure returns (uint256 zeros, uint256 nonZeros) {
        for (uint256 i = 0; i < data.length; ++i) {
            if (data[i] == 0) ++zeros;
        }
        nonZeros = data.length - zeros;
    }

    /// @dev True when forge runs every call as a separate transaction (then a
    /// trivial view call reports at least the 21000 base cost).
    function _isolated() internal returns (bool) {
        // A CALL (not STATICCALL): forge isolates only state-changing calls.
        (bool ok,) = address(agg).call(abi.encodeCall(agg.latestSeqNr, ()));
        assertTrue(ok, "latestSeqNr");
        return vm.lastCallGas().gasTotalUsed >= 21000;
    }

    function test_gas_transmit_n4_f1() public {
        (uint256 execGas,) = _measure(4, 1);
        assertTrue(execGas < 150_000, "n=4 gas regression");
    }

    function test_gas_transmit_n10_f3() public {
        (uint256 execGas,) = _measure(10, 3);
        assertTrue(execGas < 250_000, "n=10 gas regression");
    }

    function test_gas_transmit_n31_f10() public {
        (uint256 execGas,) = _measure(31, 10);
        assertTrue(execGas < 500_000, "n=31 gas regression");
    }
}
