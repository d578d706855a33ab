// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {TestBase} from "./Base.sol";
import {OCR3MedianAggregator} from "../src/OCR3MedianAggregator.sol";

/// @notice The independent vectors of /work/shared/vectors/evm.json (computed
/// with eth-abi / eth-account), copied here so the tests run from a clone.
abstract contract VectorFixtures is TestBase {
    // config_digest.inputs
    uint256 internal constant CHAIN_ID = 31337;
    address internal constant CONTRACT = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
    // anvil's first default account; its nonce-0 CREATE address is CONTRACT
    address internal constant ANVIL_DEPLOYER = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    bytes internal constant ONCHAIN_CONFIG =
        hex"018000000000000000000000000000000000000000000000017fffffffffffffffffffffffffffffffffffffffffffffff";
    bytes internal constant OFFCHAIN_CONFIG = hex"000102030405060708090a0b0c0d0e0f";
    bytes32 internal constant CONFIG_DIGEST = 0x0001ecc074b0341d60bf2a04165756c83ddd5d27be09ff5f5b6c60b50a99b7b4;

    // median_report / report_signature
    bytes internal constant REPORT =
        hex"000000000000000000000000000000000000000000000000000000006553f100000203000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000800000000000000000000000000000000000000000000000000011c37937e08000000000000000000000000000000000000000000000000000000000000000000300000000000000000000000000000000000000000000000000000045bb97530000000000000000000000000000000000000000000000000000000045d964b8000000000000000000000000000000000000000000000000000000004623e63480";
    uint256 internal constant SEQ_NR = 42;
    bytes32 internal constant SIGNED_HASH = 0x518b02a87f8412d4290a8a4ef96cc056268f57ab3c9dc0e3055fb442cc1bbd43;


    struct Sig {
        uint256 key;
        address addr;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    function _signers() internal pure returns (address[] memory s) {
        s = new address[](4);
        s[0] = 0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1;
        s[1] = 0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c;
        s[2] = 0x3325a78425F17a7E487Eb5666b2bFd93aBb06c70;
        s[3] = 0xc48B812bB43401392c037381AcA934F4069C0517;
    }

    function _transmitters() internal pure returns (address[] memory t) {
        t = new address[](4);
        t[0] = 0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A;
        t[1] = 0x1C5A77d9FA7eF466951B2F01F724BCa3A5820b63;
        t[2] = 0x03a1Bba60B5Aa37094cf16123AdD674c01589488;
        t[3] = 0x1e32ABcfE6db15c1570709E3fC02725335f50A47;
    }

    function _sigs() internal pure returns (Sig[4] memory s) {
        s[0] = Sig(
            0x0101010101010101010101010101010101010101010101010101010101010101,
            0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1,
            0x8b87e0fcc655646d47810c8138ca3d1200a2de85ca920777de726ca9dee01413,
            0x223537ca85507b4501d96a6b9ec67018f58e54b9e798c1e9c1bc53f7a49f9fac,
            0
        );
        s[1] = Sig(
            0x0202020202020202020202020202020202020202020202020202020202020202,
            0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c,
            0x3943e8c16faa6977ae3f958f66c0f535c11d8c1dbbcd71189b43fd54e104fb13,
            0x3d19c8ae30d6d08d8cae78232a3ec6d7fc60f7674287350132a55d10e936144c,
            1
        );
        s[2] = Sig(
            0x0303030303030303030303030303030303030303030303030303030303030303,
            0x3325a78425F17a7E487Eb5666b2bFd93aBb06c70,
            0x82fe43774ac30dfac97e4ed0fe09242636e09e33cf506b52849554d6f9bf6e70,
            0x15e8417f96f4ee012d4cb71b2328433a1f8d697515bab90d7994a225fedb4d2b,
            1
        );
        s[3] = Sig(
            0x0404040404040404040404040404040404040404040404040404040404040404,
            0xc48B812bB43401392c037381AcA934F4069C0517,
            0xf378e12fac6e0025a4730ce0b3cd458ed05c9af9083da838dbe1bc0e7692c7f4,
            0x11415a9a858549eab4feba5aadb7e274a8ecd1578451e9c2524a789fef242a5a,
            1
        );
    }

    function _vectorSignatures() internal pure returns (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) {
        Sig[4] memory sigs = _sigs();
        // Signatures of oracles 3 and 1 (any f+1 = 2 distinct signers).
        rs = new bytes32[](2);
        ss = new bytes32[](2);
        rs[0] = sigs[3].r;
        ss[0] = sigs[3].s;
        rs[1] = sigs[1].r;
        ss[1] = sigs[1].s;
        rawVs = bytes32((uint256(sigs[3].v) << 248) | (uint256(sigs[1].v) << 240));
    }
}

contract VectorsTest is VectorFixtures {
    /// @dev The aggregator's code at the vector address (fresh storage,
    /// configCount 0, owner = this test via the immutable).
    function _aggregatorAtVectorAddress() internal returns (OCR3MedianAggregator agg) {
        vm.chainId(CHAIN_ID);
        OCR3MedianAggregator impl = new OCR3MedianAggregator(8, "vector");
        vm.etch(CONTRACT, address(impl).code);
        agg = OCR3MedianAggregator(CONTRACT);
    }

    function _setVectorConfig(OCR3MedianAggregator agg) internal {
        vm.expectEmit(true, true, true, true, address(agg));
        emit OCR3MedianAggregator.ConfigSet(0, CONFIG_DIGEST, 1, _signers(), _transmitters(), 1, ONCHAIN_CONFIG, 1, OFFCHAIN_CONFIG);
        agg.setConfig(_signers(), _transmitters(), 1, ONCHAIN_CONFIG, 1, OFFCHAIN_CONFIG);
    }

    function test_vector_configDigest_etched() public {
        OCR3MedianAggregator agg = _aggregatorAtVectorAddress();
        _setVectorConfig(agg);
        (uint32 count,, bytes32 digest) = agg.latestConfigDetails();
        assertEq(count, 1, "configCount");
        assertEq(digest, CONFIG_DIGEST, "config digest");
        (uint8 f, int192 minAnswer, int192 maxAnswer) = agg.configParams();
        assertEq(f, 1, "f");
        assertEq(minAnswer, type(int192).min + 1, "onchain config min"); // 0x80..01
        assertEq(maxAnswer, type(int192).max, "onchain config max");
    }

    /// Same digest when actually deployed like anvil's first deployment.
    function test_vector_configDigest_deployedByAnvilAccount0() public {
        vm.chainId(CHAIN_ID);
        vm.prank(ANVIL_DEPLOYER);
        OCR3MedianAggregator agg = new OCR3MedianAggregator(8, "vector");
        assertEq(address(agg), CONTRACT, "deployment address");
        assertEq(agg.owner(), ANVIL_DEPLOYER, "owner");
        vm.prank(ANVIL_DEPLOYER);
        agg.setConfig(_signers(), _transmitters(), 1, ONCHAIN_CONFIG, 1, OFFCHAIN_CONFIG);
        (,, bytes32 digest) = agg.latestConfigDetails();
        assertEq(digest, CONFIG_DIGEST, "config digest");
    }

    function test_vector_configDigest_dependsOnChainId() public {
        vm.chainId(CHAIN_ID + 1);
        OCR3MedianAggregator impl = new OCR3MedianAggregator(8, "vector");
        vm.etch(CONTRACT, address(impl).code);
        OCR3MedianAggregator(CONTRACT).setConfig(_signers(), _transmitters(), 1, ONCHAIN_CONFIG, 1, OFFCHAIN_CONFIG);
        (,, bytes32 digest) = OCR3MedianAggregator(CONTRACT).latestConfigDetails();
        assertTrue(digest != CONFIG_DIGEST, "digest must bind the chain id");
        assertEq(uint256(digest) >> 240, 1, "prefix");
    }

    function test_vector_medianReportEncoding() public pure {
        int192[] memory obs = new int192[](3);
        obs[0] = 299500000000; // observer 0
        obs[1] = 300000000000; // observer 2
        obs[2] = 301250000000; // observer 3
        bytes32 observers = bytes32(uint256(0x000203) << 232);
        bytes memory encoded = abi.encode(uint32(1700000000), observers, obs, int192(5000000000000000));
        assertEq(encoded, REPORT, "median report encoding");
    }

    function test_vector_signedHashAndEcrecover() public pure {
        bytes32[2] memory ctx = [CONFIG_DIGEST, bytes32(SEQ_NR)];
        assertEq(
            ctx[1], 0x000000000000000000000000000000000000000000000000000000000000002a, "seqNr word"
        );
        bytes32 h = keccak256(abi.encodePacked(keccak256(REPORT), ctx[0], ctx[1]));
        assertEq(h, SIGNED_HASH, "signed hash");
        Sig[4] memory sigs = _sigs();
        for (uint256 i = 0; i < 4; ++i) {
            assertEq(vm.addr(sigs[i].key), sigs[i].addr, "key -> address");
            assertEq(ecrecover(h, sigs[i].v + 27, sigs[i].r, sigs[i].s), sigs[i].addr, "ecrecover");
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(sigs[i].key, h);
            assertEq(v, sigs[i].v + 27, "vm.sign v");
            assertEq(r, sigs[i].r, "vm.sign r (RFC 6979)");
            assertEq(s, sigs[i].s, "vm.sign s");
        }
    }

    /// The vector's report and signatures are accepted by the contract at
    /// the vector's address and config.
    function test_vector_transmitWithVectorSignatures() public {
        OCR3MedianAggregator agg = _aggregatorAtVectorAddress();
        _setVectorConfig(agg);
        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _vectorSignatures();
        bytes32[2] memory ctx = [CONFIG_DIGEST, bytes32(SEQ_NR)];

        int192[] memory obs = new int192[](3);
        obs[0] = 299500000000;
        obs[1] = 300000000000;
        obs[2] = 301250000000;
        address transmitter = _transmitters()[2];
        vm.expectEmit(true, true, true, true, address(agg));
        emit OCR3MedianAggregator.NewTransmission(1, 300000000000, transmitter, 1700000000, obs, hex"000203", 5e15, CONFIG_DIGEST, 42);
        vm.prank(transmitter);
        agg.transmit(ctx, REPORT, rs, ss, rawVs);

        (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt,) = agg.latestRoundData();
        assertEq(roundId, 1, "roundId");
        assertEq(answer, 300000000000, "answer");
        assertEq(startedAt, 1700000000, "observationsTimestamp");
        assertEq(updatedAt, block.timestamp, "updatedAt");
        assertEq(agg.latestSeqNr(), 42, "latestSeqNr");
    }
}
