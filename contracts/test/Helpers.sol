// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {TestBase} from "./Base.sol";
import {OCR3MedianAggregator} from "../src/OCR3MedianAggregator.sol";

/// @notice Shared fixtures: oracle keys, configs, reports and signatures.
abstract contract AggregatorHelpers is TestBase {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant SIGNER_KEY_BASE = 0x5100;
    uint256 internal constant TRANSMITTER_KEY_BASE = 0x7100;

    OCR3MedianAggregator internal agg;
    uint256[] internal signerKeys;
    address[] internal signerAddrs;
    address[] internal transmitterAddrs;
    uint8 internal f;

    function _deploy() internal {
        agg = new OCR3MedianAggregator(8, "ETH / USD");
    }

    function _onchainConfig(int192 minAnswer, int192 maxAnswer) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(1), minAnswer, maxAnswer);
    }

    /// @dev n oracles with deterministic keys (offset lets a test pick a
    /// disjoint set for a second config).
    function _oracles(uint256 n, uint256 offset)
        internal
        pure
        returns (uint256[] memory keys, address[] memory signers_, address[] memory transmitters_)
    {
        keys = new uint256[](n);
        signers_ = new address[](n);
        transmitters_ = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            keys[i] = SIGNER_KEY_BASE + offset + i;
            signers_[i] = vm.addr(keys[i]);
            transmitters_[i] = vm.addr(TRANSMITTER_KEY_BASE + offset + i);
        }
    }

    function _configure(uint256 n, uint8 f_, int192 minAnswer, int192 maxAnswer, uint256 offset) internal {
        (uint256[] memory keys, address[] memory s, address[] memory t) = _oracles(n, offset);
        signerKeys = keys;
        signerAddrs = s;
        transmitterAddrs = t;
        f = f_;
        agg.setConfig(s, t, f_, _onchainConfig(minAnswer, maxAnswer), 1, hex"c0ffee");
    }

    function _digest() internal view returns (bytes32 d) {
        (,, d) = agg.latestConfigDetails();
    }

    function _ctx(uint256 seqNr) internal view returns (bytes32[2] memory ctx) {
        ctx[0] = _digest();
        ctx[1] = bytes32(seqNr);
    }

    /// @dev abi.encode(uint32, bytes32, int192[], int192); observer i of
    /// observations[i] is i.
    function _report(uint32 ts, int192[] memory sortedObservations, int192 juels)
        internal
        pure
        returns (bytes memory)
    {
        bytes32 observers;
        for (uint256 i = 0; i < sortedObservations.length; ++i) {
            observers |= bytes32(uint256(i) << (248 - 8 * i));
        }
        return abi.encode(ts, observers, sortedObservations, juels);
    }

    /// @dev count observations base, base+1, ..., median = base + count/2.
    function _reportN(uint256 count, int192 base) internal view returns (bytes memory) {
        int192[] memory obs = new int192[](count);
        for (uint256 i = 0; i < count; ++i) {
            obs[i] = base + int192(int256(i));
        }
        return _report(uint32(block.timestamp - 5), obs, 5e15);
    }

    function _signedHash(bytes memory report, bytes32[2] memory ctx) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(keccak256(report), ctx[0], ctx[1]));
    }

    function _sign(bytes memory report, bytes32[2] memory ctx, uint256[] memory keys)
        internal
        pure
        returns (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs)
    {
        bytes32 h = _signedHash(report, ctx);
        rs = new bytes32[](keys.length);
        ss = new bytes32[](keys.length);
        uint256 vs;
        for (uint256 i = 0; i < keys.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[i], h);
            rs[i] = r;
            ss[i] = s;
            vs |= uint256(v - 27) << (248 - 8 * i);
        }
        rawVs = bytes32(vs);
    }

    /// @dev The first k signer keys.
    function _keys(uint256 k) internal view returns (uint256[] memory keys) {
        keys = new uint256[](k);
        for (uint256 i = 0; i < k; ++i) {
            keys[i] = signerKeys[i];
        }
    }

    function _transmitAs(
        address sender,
        bytes32[2] memory ctx,
        bytes memory report,
        bytes32[] memory rs,
        bytes32[] memory ss,
        bytes32 rawVs
    ) internal {
        vm.prank(sender);
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    /// @dev A valid transmit of `report` at seqNr with f+1 signatures.
    function _transmit(uint256 seqNr, bytes memory report) internal {
        bytes32[2] memory ctx = _ctx(seqNr);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(uint256(f) + 1));
        _transmitAs(transmitterAddrs[0], ctx, report, rs, ss, rawVs);
    }

    /// @dev Expects transmit of `report` at seqNr with f+1 valid signatures
    /// to revert with exactly `err`.
    function _expectTransmitRevert(uint256 seqNr, bytes memory report, bytes memory err) internal {
        bytes32[2] memory ctx = _ctx(seqNr);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(uint256(f) + 1));
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(err);
        agg.transmit(ctx, report, rs, ss, rawVs);
    }
}
