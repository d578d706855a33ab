// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {AggregatorHelpers} from "./Helpers.sol";
import {OCR3MedianAggregator} from "../src/OCR3MedianAggregator.sol";

contract OCR3MedianAggregatorTest is AggregatorHelpers {
    int192 internal constant MIN = 1_000e8;
    int192 internal constant MAX = 10_000e8;
    int192 internal constant BASE = 3_000e8;


    function setUp() public {
        vm.warp(1_700_000_100);
        vm.roll(100);
        _deploy();
        _configure(4, 1, MIN, MAX, 0);
    }

    // ======================================================= happy paths

    function test_metadata() public view {
        assertEq(agg.decimals(), 8, "decimals");
        assertEq(agg.description(), "ETH / USD", "description");
        assertEq(agg.version(), 1, "version");
        assertEq(agg.owner(), address(this), "owner");
        assertEq(agg.typeAndVersion(), "OCR3MedianAggregator 1.0.0", "typeAndVersion");
    }

    function test_setConfig_state() public view {
        (uint32 count, uint32 blockNumber, bytes32 digest) = agg.latestConfigDetails();
        assertEq(count, 1, "configCount");
        assertEq(blockNumber, 100, "blockNumber");
        assertEq(uint256(digest) >> 240, 1, "digest prefix");
        assertEq(agg.latestSeqNr(), 0, "latestSeqNr");
        (uint8 f_, int192 minAnswer, int192 maxAnswer) = agg.configParams();
        assertEq(f_, 1, "f");
        assertEq(minAnswer, MIN, "min");
        assertEq(maxAnswer, MAX, "max");
        address[] memory s = agg.getSigners();
        address[] memory t = agg.getTransmitters();
        assertEq(s.length, 4, "signers");
        assertEq(t.length, 4, "transmitters");
        for (uint256 i = 0; i < 4; ++i) {
            assertEq(s[i], signerAddrs[i], "signer");
            assertEq(t[i], transmitterAddrs[i], "transmitter");
        }
    }

    function test_transmit_updatesLatestRoundData() public {
        bytes memory report = _reportN(3, BASE); // BASE, BASE+1, BASE+2
        uint32 obsTs = uint32(block.timestamp - 5);
        bytes32[2] memory ctx = _ctx(7);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));

        int192[] memory obs = new int192[](3);
        obs[0] = BASE;
        obs[1] = BASE + 1;
        obs[2] = BASE + 2;
        vm.expectEmit(true, true, true, true, address(agg));
        emit OCR3MedianAggregator.NewTransmission(1, BASE + 1, transmitterAddrs[2], obsTs, obs, hex"000102", 5e15, ctx[0], 7);
        vm.expectEmit(true, true, true, true, address(agg));
        emit OCR3MedianAggregator.AnswerUpdated(BASE + 1, 1, block.timestamp);
        _transmitAs(transmitterAddrs[2], ctx, report, rs, ss, rawVs);

        (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound) =
            agg.latestRoundData();
        assertEq(roundId, 1, "roundId");
        assertEq(answer, BASE + 1, "answer");
        assertEq(startedAt, obsTs, "startedAt");
        assertEq(updatedAt, block.timestamp, "updatedAt");
        assertEq(answeredInRound, 1, "answeredInRound");
        assertEq(agg.latestSeqNr(), 7, "latestSeqNr");
        assertEq(agg.getRoundSeqNr(1), 7, "round seqNr");
    }

    function test_transmit_roundsAndGetRoundData() public {
        _transmit(1, _reportN(2, BASE)); // median index 1
        vm.warp(block.timestamp + 60);
        _transmit(5, _reportN(4, BASE + 100)); // median index 2
        vm.warp(block.timestamp + 60);
        _transmit(6, _reportN(31, BASE + 200)); // median index 15

        (uint80 roundId, int256 answer,,,) = agg.latestRoundData();
        assertEq(roundId, 3, "latest roundId");
        assertEq(answer, BASE + 215, "latest answer");
        uint256 updatedAt;
        (, answer,, updatedAt,) = agg.getRoundData(1);
        assertEq(answer, BASE + 1, "round 1");
        assertEq(updatedAt, block.timestamp - 120, "round 1 updatedAt");
        (, answer,,,) = agg.getRoundData(2);
        assertEq(answer, BASE + 102, "round 2");
        assertEq(agg.getRoundSeqNr(2), 5, "round 2 seqNr");
        assertEq(agg.latestSeqNr(), 6, "latestSeqNr");
    }

    function test_transmit_anySubsetOfSignersInAnyOrder() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        uint256[] memory keys = new uint256[](2);
        keys[0] = signerKeys[3];
        keys[1] = signerKeys[1];
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, keys);
        _transmitAs(transmitterAddrs[3], ctx, report, rs, ss, rawVs);
        assertEq(agg.latestSeqNr(), 1, "latestSeqNr");
    }

    function test_transmit_answerAtBoundsAccepted() public {
        int192[] memory obs = new int192[](3);
        obs[0] = MIN - 5;
        obs[1] = MIN;
        obs[2] = MAX + 5;
        _transmit(1, _report(1, obs, 0));
        obs[0] = MIN;
        obs[1] = MAX;
        obs[2] = MAX;
        _transmit(2, _report(2, obs, 0));
        (, int256 answer,,,) = agg.latestRoundData();
        assertEq(answer, MAX, "max answer");
        (, answer,,,) = agg.getRoundData(1);
        assertEq(answer, MIN, "min answer");
    }

    function test_transmit_negativeAnswersAndBounds() public {
        _configure(4, 1, -500, -100, 0);
        int192[] memory obs = new int192[](2);
        obs[0] = -300;
        obs[1] = -200;
        _transmit(1, _report(1, obs, -1));
        (, int256 answer,,,) = agg.latestRoundData();
        assertEq(answer, -200, "negative answer");
        obs[0] = -600;
        obs[1] = -50;
        _expectTransmitRevert(
            2,
            _report(1, obs, -1),
            abi.encodeWithSelector(OCR3MedianAggregator.AnswerOutOfRange.selector, int192(-50), int192(-500), int192(-100))
        );
    }

    function test_setConfig_again_resetsSeqNrAndInvalidatesOldConfig() public {
        _transmit(10, _reportN(3, BASE));
        bytes32 oldDigest = _digest();
        uint256 oldKey = signerKeys[0];
        address oldTransmitter = transmitterAddrs[0];

        _reconfigureSevenOracles();
        (uint32 count, uint32 blockNumber, bytes32 digest) = agg.latestConfigDetails();
        assertEq(count, 2, "configCount");
        assertEq(blockNumber, 200, "blockNumber");
        assertTrue(digest != oldDigest, "new digest");
        assertEq(agg.latestSeqNr(), 0, "seqNr reset");

        _checkOldConfigRejected(oldDigest, oldKey, oldTransmitter);

        // seqNr 1 is fresh under the new config; round ids keep counting.
        _transmit(1, _reportN(3, BASE));
        (uint80 roundId,,,,) = agg.latestRoundData();
        assertEq(roundId, 2, "roundId continues");
        assertEq(agg.latestSeqNr(), 1, "latestSeqNr");
    }

    function _reconfigureSevenOracles() internal {
        vm.roll(200);
        (uint256[] memory keys, address[] memory s, address[] memory t) = _oracles(7, 100);
        bytes memory onchainConfig = _onchainConfig(MIN, MAX);
        vm.expectEmit(false, false, false, false, address(agg)); // digest checked by the caller
        emit OCR3MedianAggregator.ConfigSet(100, bytes32(0), 2, s, t, 2, onchainConfig, 1, hex"");
        agg.setConfig(s, t, 2, onchainConfig, 1, hex"");
        signerKeys = keys;
        signerAddrs = s;
        transmitterAddrs = t;
        f = 2;
    }

    function _checkOldConfigRejected(bytes32 oldDigest, uint256 oldKey, address oldTransmitter) internal {
        bytes32 digest = _digest();
        bytes memory report = _reportN(3, BASE);
        // Old digest is dead.
        bytes32[2] memory ctx = [oldDigest, bytes32(uint256(11))];
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(3));
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.ConfigDigestMismatch.selector, digest, oldDigest));
        agg.transmit(ctx, report, rs, ss, rawVs);

        // Old transmitter is no longer registered.
        ctx = _ctx(1);
        (rs, ss, rawVs) = _sign(report, ctx, _keys(3));
        vm.prank(oldTransmitter);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedTransmitter.selector, oldTransmitter));
        agg.transmit(ctx, report, rs, ss, rawVs);

        // Old signers are no longer registered.
        uint256[] memory mixed = _keys(3);
        mixed[2] = oldKey;
        (rs, ss, rawVs) = _sign(report, ctx, mixed);
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedSigner.selector, 2, vm.addr(oldKey)));
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_noDataPresent() public {
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.NoDataPresent.selector));
        agg.latestRoundData();
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.NoDataPresent.selector));
        agg.getRoundData(0);
        _transmit(1, _reportN(3, BASE));
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.NoDataPresent.selector));
        agg.getRoundData(2);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.NoDataPresent.selector));
        agg.getRoundData(type(uint80).max);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.NoDataPresent.selector));
        agg.getRoundSeqNr(0);
    }

    // ================================================ transmit reverts

    function test_revert_wrongConfigDigest() public {
        bytes memory report = _reportN(3, BASE);
        bytes32 digest = _digest();
        bytes32 wrong = bytes32(uint256(digest) ^ 1);
        bytes32[2] memory ctx = [wrong, bytes32(uint256(1))];
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.ConfigDigestMismatch.selector, digest, wrong));
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_revert_beforeAnyConfig() public {
        OCR3MedianAggregator fresh = new OCR3MedianAggregator(8, "x");
        bytes32[2] memory ctx;
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedTransmitter.selector, address(this)));
        fresh.transmit(ctx, "", new bytes32[](0), new bytes32[](0), 0);
    }

    function test_revert_staleSeqNr_equal() public {
        bytes memory report = _reportN(3, BASE);
        _transmit(5, report);
        _expectTransmitRevert(
            5, report, abi.encodeWithSelector(OCR3MedianAggregator.StaleSeqNr.selector, uint64(5), uint256(5))
        );
    }

    function test_revert_staleSeqNr_lower() public {
        bytes memory report = _reportN(3, BASE);
        _transmit(5, report);
        _expectTransmitRevert(
            4, report, abi.encodeWithSelector(OCR3MedianAggregator.StaleSeqNr.selector, uint64(5), uint256(4))
        );
    }

    function test_revert_seqNrZero() public {
        _expectTransmitRevert(
            0,
            _reportN(3, BASE),
            abi.encodeWithSelector(OCR3MedianAggregator.StaleSeqNr.selector, uint64(0), uint256(0))
        );
    }

    function test_revert_seqNrTooLarge() public {
        uint256 big = uint256(type(uint64).max) + 1;
        _expectTransmitRevert(
            big, _reportN(3, BASE), abi.encodeWithSelector(OCR3MedianAggregator.SeqNrTooLarge.selector, big)
        );
    }

    function test_revert_onlyFSignatures() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(1));
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.WrongNumberOfSignatures.selector, 2, 1, 1));
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_revert_tooManySignatures() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(3));
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.WrongNumberOfSignatures.selector, 2, 3, 3));
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_revert_rsSsLengthMismatch() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));
        bytes32[] memory ss1 = new bytes32[](1);
        ss1[0] = ss[0];
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.WrongNumberOfSignatures.selector, 2, 2, 1));
        agg.transmit(ctx, report, rs, ss1, rawVs);
    }

    function test_revert_duplicateSigner() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        uint256[] memory keys = new uint256[](2);
        keys[0] = signerKeys[2];
        keys[1] = signerKeys[2];
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, keys);
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.DuplicateSignature.selector, 1, signerAddrs[2]));
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_revert_nonSignerSignature() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        uint256[] memory keys = new uint256[](2);
        keys[0] = signerKeys[0];
        keys[1] = 0xBADBAD;
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, keys);
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(
            abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedSigner.selector, 1, vm.addr(0xBADBAD))
        );
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_revert_transmitterKeyIsNotASigner() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        uint256[] memory keys = new uint256[](2);
        keys[0] = TRANSMITTER_KEY_BASE; // the key of transmitter 0, not a signer
        keys[1] = signerKeys[1];
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, keys);
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(
            abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedSigner.selector, 0, transmitterAddrs[0])
        );
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_revert_signatureOverOtherReport() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));
        bytes memory other = _reportN(3, BASE + 1);
        // Recovers some unrelated address (or zero), which is not a signer.
        address recovered = ecrecover(_signedHash(other, ctx), uint8(rawVs[0]) + 27, rs[0], ss[0]);
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedSigner.selector, 0, recovered));
        agg.transmit(ctx, other, rs, ss, rawVs);
    }

    function test_revert_badV() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));
        // v byte of signature 1 set to 2
        bytes32 badVs = (rawVs & ~bytes32(uint256(0xff) << 240)) | bytes32(uint256(2) << 240);
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.InvalidSignatureV.selector, 1, uint8(2)));
        agg.transmit(ctx, report, rs, ss, badVs);
        // v given as 27/28 instead of 0/1
        badVs = bytes32(uint256(uint8(rawVs[0]) + 27) << 248) | (rawVs & ~bytes32(uint256(0xff) << 248));
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(
            abi.encodeWithSelector(OCR3MedianAggregator.InvalidSignatureV.selector, 0, uint8(rawVs[0]) + 27)
        );
        agg.transmit(ctx, report, rs, ss, badVs);
    }

    function test_revert_highS() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));
        // The malleated twin (r, n - s, v ^ 1) recovers the same signer...
        uint8 v0 = uint8(rawVs[0]);
        bytes32 highS = bytes32(SECP256K1_N - uint256(ss[0]));
        assertEq(
            ecrecover(_signedHash(report, ctx), (v0 ^ 1) + 27, rs[0], highS), signerAddrs[0], "twin recovers signer"
        );
        ss[0] = highS;
        rawVs = bytes32(uint256(rawVs) ^ (uint256(1) << 248));
        // ...but is rejected.
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.HighSSignature.selector, 0));
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    function test_revert_wrongTransmitter() public {
        bytes memory report = _reportN(3, BASE);
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));
        address stranger = address(0xBEEF);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedTransmitter.selector, stranger));
        agg.transmit(ctx, report, rs, ss, rawVs);
        // A signer address is not a transmitter either.
        vm.prank(signerAddrs[0]);
        vm.expectRevert(
            abi.encodeWithSelector(OCR3MedianAggregator.UnauthorizedTransmitter.selector, signerAddrs[0])
        );
        agg.transmit(ctx, report, rs, ss, rawVs);
    }

    // -------------------------------------------------- malformed reports

    function _malformed(bytes memory report) internal {
        _expectTransmitRevert(1, report, abi.encodeWithSelector(OCR3MedianAggregator.MalformedReport.selector));
    }

    function _setWord(bytes memory b, uint256 index, uint256 value) internal pure {
        assembly {
            mstore(add(add(b, 0x20), mul(index, 0x20)), value)
        }
    }

    function test_revert_malformedReport_empty() public {
        _malformed("");
    }

    function test_revert_malformedReport_tooShort() public {
        _malformed(abi.encode(uint32(1), bytes32(0), uint256(0x80), int192(0)));
    }

    function test_revert_malformedReport_truncated() public {
        bytes memory report = _reportN(3, BASE);
        assembly {
            mstore(report, sub(mload(report), 1))
        }
        _malformed(report);
    }

    function test_revert_malformedReport_trailingWord() public {
        _malformed(bytes.concat(_reportN(3, BASE), bytes32(0)));
    }

    function test_revert_malformedReport_lengthWordMismatch() public {
        bytes memory report = _reportN(3, BASE);
        _setWord(report, 4, 2); // claims 2 observations, carries 3
        _malformed(report);
        _setWord(report, 4, type(uint256).max); // absurd length, no overflow panic
        _malformed(report);
    }

    function test_revert_malformedReport_badOffset() public {
        bytes memory report = _reportN(3, BASE);
        _setWord(report, 2, 0xa0);
        _malformed(report);
    }

    function test_revert_malformedReport_timestampNotUint32() public {
        bytes memory report = _reportN(3, BASE);
        _setWord(report, 0, uint256(type(uint32).max) + 1);
        _malformed(report);
    }

    function test_revert_malformedReport_dirtyObservation() public {
        bytes memory report = _reportN(3, BASE);
        _setWord(report, 6, uint256(1) << 200); // positive, > int192 max
        _malformed(report);
    }

    function test_revert_malformedReport_dirtyJuels() public {
        bytes memory report = _reportN(3, BASE);
        _setWord(report, 3, uint256(type(uint256).max) ^ (uint256(1) << 255)); // not sign-extended
        _malformed(report);
    }

    function test_revert_malformedReport_observerBytesBeyondCount() public {
        bytes memory report = _reportN(3, BASE);
        _setWord(report, 1, uint256(0x00010203) << 224); // 4 observer bytes, 3 observations
        _malformed(report);
    }

    function test_revert_malformedReport_abiDecodeWouldNotPanic() public {
        // Random garbage of a plausible length.
        bytes memory report = new bytes(32 * 8);
        for (uint256 i = 0; i < 8; ++i) {
            _setWord(report, i, uint256(keccak256(abi.encode(i))));
        }
        _malformed(report);
    }

    function test_revert_tooFewObservations() public {
        _expectTransmitRevert(
            1,
            _reportN(1, BASE), // f = 1: needs more than 1
            abi.encodeWithSelector(OCR3MedianAggregator.InvalidObservationCount.selector, 1, 1)
        );
        _expectTransmitRevert(
            1, _reportN(0, BASE), abi.encodeWithSelector(OCR3MedianAggregator.InvalidObservationCount.selector, 0, 1)
        );
    }

    function test_revert_tooManyObservations() public {
        _expectTransmitRevert(
            1, _reportN(32, BASE), abi.encodeWithSelector(OCR3MedianAggregator.InvalidObservationCount.selector, 32, 1)
        );
    }

    function test_revert_unsortedObservations() public {
        int192[] memory obs = new int192[](3);
        obs[0] = BASE;
        obs[1] = BASE + 2;
        obs[2] = BASE + 1;
        _expectTransmitRevert(
            1, _report(1, obs, 0), abi.encodeWithSelector(OCR3MedianAggregator.UnsortedObservations.selector, 2)
        );
    }

    function test_revert_answerBelowMin() public {
        int192[] memory obs = new int192[](3);
        obs[0] = MIN - 2;
        obs[1] = MIN - 1;
        obs[2] = MAX;
        _expectTransmitRevert(
            1,
            _report(1, obs, 0),
            abi.encodeWithSelector(OCR3MedianAggregator.AnswerOutOfRange.selector, MIN - 1, MIN, MAX)
        );
    }

    function test_revert_answerAboveMax() public {
        int192[] memory obs = new int192[](3);
        obs[0] = MIN;
        obs[1] = MAX + 1;
        obs[2] = MAX + 2;
        _expectTransmitRevert(
            1,
            _report(1, obs, 0),
            abi.encodeWithSelector(OCR3MedianAggregator.AnswerOutOfRange.selector, MAX + 1, MIN, MAX)
        );
    }

    function test_revert_failedTransmitLeavesStateUnchanged() public {
        _transmit(3, _reportN(3, BASE));
        int192[] memory obs = new int192[](3);
        obs[0] = MAX + 1;
        obs[1] = MAX + 1;
        obs[2] = MAX + 1;
        _expectTransmitRevert(
            4,
            _report(1, obs, 0),
            abi.encodeWithSelector(OCR3MedianAggregator.AnswerOutOfRange.selector, MAX + 1, MIN, MAX)
        );
        assertEq(agg.latestSeqNr(), 3, "seqNr unchanged");
        (uint80 roundId, int256 answer,,,) = agg.latestRoundData();
        assertEq(roundId, 1, "round unchanged");
        assertEq(answer, BASE + 1, "answer unchanged");
    }

    // ============================================== setConfig reverts

    function _trySetConfig(address[] memory s, address[] memory t, uint8 f_, bytes memory onchainConfig, bytes memory err)
        internal
    {
        vm.expectRevert(err);
        agg.setConfig(s, t, f_, onchainConfig, 1, "");
    }

    function test_setConfig_revert_notOwner() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        bytes memory oc = _onchainConfig(MIN, MAX);
        vm.prank(transmitterAddrs[0]);
        vm.expectRevert(abi.encodeWithSelector(OCR3MedianAggregator.OnlyCallableByOwner.selector, transmitterAddrs[0]));
        agg.setConfig(s, t, 1, oc, 1, "");
    }

    function test_setConfig_revert_tooManyOracles() public {
        (, address[] memory s, address[] memory t) = _oracles(32, 0);
        _trySetConfig(
            s, t, 1, _onchainConfig(MIN, MAX), abi.encodeWithSelector(OCR3MedianAggregator.TooManyOracles.selector, 32, 31)
        );
    }

    function test_setConfig_maxOracles_ok() public {
        (, address[] memory s, address[] memory t) = _oracles(31, 0);
        agg.setConfig(s, t, 10, _onchainConfig(MIN, MAX), 1, "");
        (uint8 f_,,) = agg.configParams();
        assertEq(f_, 10, "f");
    }

    function test_setConfig_revert_faultToleranceTooHigh() public {
        (, address[] memory s, address[] memory t) = _oracles(3, 0);
        bytes memory oc = _onchainConfig(MIN, MAX);
        _trySetConfig(s, t, 1, oc, abi.encodeWithSelector(OCR3MedianAggregator.FaultToleranceTooHigh.selector, 3, 1));
        (, s, t) = _oracles(9, 0);
        _trySetConfig(s, t, 3, oc, abi.encodeWithSelector(OCR3MedianAggregator.FaultToleranceTooHigh.selector, 9, 3));
        (, s, t) = _oracles(31, 0);
        _trySetConfig(s, t, 11, oc, abi.encodeWithSelector(OCR3MedianAggregator.FaultToleranceTooHigh.selector, 31, 11));
        (, s, t) = _oracles(0, 0);
        _trySetConfig(s, t, 1, oc, abi.encodeWithSelector(OCR3MedianAggregator.FaultToleranceTooHigh.selector, 0, 1));
    }

    function test_setConfig_revert_fZero() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        _trySetConfig(
            s, t, 0, _onchainConfig(MIN, MAX), abi.encodeWithSelector(OCR3MedianAggregator.FaultToleranceMustBePositive.selector)
        );
    }

    function test_setConfig_revert_unequalLengths() public {
        (, address[] memory s,) = _oracles(4, 0);
        (,, address[] memory t) = _oracles(5, 0);
        _trySetConfig(
            s, t, 1, _onchainConfig(MIN, MAX), abi.encodeWithSelector(OCR3MedianAggregator.OracleLengthMismatch.selector, 4, 5)
        );
    }

    function test_setConfig_revert_duplicateSigner() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        s[3] = s[1];
        _trySetConfig(
            s, t, 1, _onchainConfig(MIN, MAX), abi.encodeWithSelector(OCR3MedianAggregator.DuplicateSignerAddress.selector, s[1])
        );
    }

    function test_setConfig_revert_duplicateTransmitter() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        t[2] = t[0];
        _trySetConfig(
            s,
            t,
            1,
            _onchainConfig(MIN, MAX),
            abi.encodeWithSelector(OCR3MedianAggregator.DuplicateTransmitterAddress.selector, t[0])
        );
    }

    function test_setConfig_revert_zeroSigner() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        s[2] = address(0);
        _trySetConfig(
            s, t, 1, _onchainConfig(MIN, MAX), abi.encodeWithSelector(OCR3MedianAggregator.ZeroSignerAddress.selector, 2)
        );
    }

    function test_setConfig_revert_zeroTransmitter() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        t[0] = address(0);
        _trySetConfig(
            s, t, 1, _onchainConfig(MIN, MAX), abi.encodeWithSelector(OCR3MedianAggregator.ZeroTransmitterAddress.selector, 0)
        );
    }

    function test_setConfig_signerMayAlsoBeTransmitter() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        t[1] = s[1];
        agg.setConfig(s, t, 1, _onchainConfig(MIN, MAX), 1, "");
        assertEq(agg.getTransmitters()[1], s[1], "transmitter");
    }

    function test_setConfig_revert_invalidOnchainConfig() public {
        (, address[] memory s, address[] memory t) = _oracles(4, 0);
        bytes memory err = abi.encodeWithSelector(OCR3MedianAggregator.InvalidOnchainConfig.selector);
        bytes memory good = _onchainConfig(MIN, MAX);
        _trySetConfig(s, t, 1, "", err);
        _trySetConfig(s, t, 1, hex"01", err);
        _trySetConfig(s, t, 1, abi.encodePacked(uint8(1), MIN, int184(0)), err); // 48 bytes
        _trySetConfig(s, t, 1, bytes.concat(good, hex"00"), err); // 50 bytes
        _trySetConfig(s, t, 1, abi.encodePacked(uint8(0), MIN, MAX), err); // version 0
        _trySetConfig(s, t, 1, abi.encodePacked(uint8(2), MIN, MAX), err); // version 2
        _trySetConfig(s, t, 1, abi.encode(uint8(1), MIN, MAX), err); // ABI words, not packed
        _trySetConfig(s, t, 1, _onchainConfig(MAX, MIN), err); // min > max
        // min == max is a valid (if odd) range
        agg.setConfig(s, t, 1, _onchainConfig(MIN, MIN), 1, "");
    }

    function test_setConfig_revertKeepsPreviousConfig() public {
        bytes32 digest = _digest();
        (, address[] memory s, address[] memory t) = _oracles(4, 50);
        s[3] = address(0);
        _trySetConfig(
            s, t, 1, _onchainConfig(MIN, MAX), abi.encodeWithSelector(OCR3MedianAggregator.ZeroSignerAddress.selector, 3)
        );
        assertEq(_digest(), digest, "digest unchanged");
        _transmit(1, _reportN(3, BASE));
    }

    // ====================================================== fuzzing

    /// Any signed report either succeeds or reverts with one of the report
    /// errors: the decoder never panics.
    function testFuzz_reportDecoderNeverPanics(bytes memory report) public {
        bytes32[2] memory ctx = _ctx(1);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _sign(report, ctx, _keys(2));
        vm.prank(transmitterAddrs[0]);
        (bool ok, bytes memory ret) = address(agg).call(abi.encodeCall(agg.transmit, (ctx, report, rs, ss, rawVs)));
        if (!ok) {
            assertTrue(ret.length >= 4, "revert data");
            bytes4 sel = bytes4(ret);
            assertTrue(
                sel == OCR3MedianAggregator.MalformedReport.selector
                    || sel == OCR3MedianAggregator.InvalidObservationCount.selector
                    || sel == OCR3MedianAggregator.UnsortedObservations.selector
                    || sel == OCR3MedianAggregator.AnswerOutOfRange.selector,
                "unexpected revert"
            );
        }
    }

    /// The answer is the element at index len/2 of the sorted observations.
    function testFuzz_medianIsMiddleObservation(uint256 seed, uint8 rawCount) public {
        uint256 count = 2 + (uint256(rawCount) % 30); // 2..31
        int192[] memory obs = new int192[](count);
        int192 v = int192(int256(seed % 1000)) + MIN;
        for (uint256 i = 0; i < count; ++i) {
            v += int192(int256(uint256(keccak256(abi.encode(seed, i))) % 50));
            obs[i] = v;
        }
        if (obs[count / 2] > MAX) return;
        _transmit(1, _report(1, obs, 0));
        (, int256 answer,,,) = agg.latestRoundData();
        assertEq(answer, obs[count / 2], "median");
    }
}
