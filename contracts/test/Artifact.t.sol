// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {VectorFixtures} from "./Vectors.t.sol";
import {OCR3MedianAggregator} from "../src/OCR3MedianAggregator.sol";

/// @notice The committed artifact (artifacts/OCR3MedianAggregator.json, the
/// bytecode the node deploys) is the code under test, and passes the vectors.
contract ArtifactTest is VectorFixtures {
    function _artifactBytecode() internal view returns (bytes memory) {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/artifacts/OCR3MedianAggregator.json"));
        return vm.parseJsonBytes(json, ".bytecode");
    }

    function _deployArtifact(uint8 decimals_, string memory description_) internal returns (OCR3MedianAggregator) {
        bytes memory code = bytes.concat(_artifactBytecode(), abi.encode(decimals_, description_));
        address a;
        assembly {
            a := create(0, add(code, 0x20), mload(code))
        }
        assertTrue(a != address(0), "artifact deployment failed");
        return OCR3MedianAggregator(a);
    }

    function test_artifact_runtimeEqualsForgeBuild() public {
        OCR3MedianAggregator fromArtifact = _deployArtifact(8, "ETH / USD");
        OCR3MedianAggregator fromForge = new OCR3MedianAggregator(8, "ETH / USD");
        assertEq(
            keccak256(address(fromArtifact).code),
            keccak256(address(fromForge).code),
            "runtime code hash (artifacts/ out of date? run node tools/build-artifacts.js)"
        );
        assertEq(fromArtifact.decimals(), 8, "decimals");
        assertEq(fromArtifact.description(), "ETH / USD", "description");
    }

    function test_artifact_vectors() public {
        vm.chainId(CHAIN_ID);
        vm.prank(ANVIL_DEPLOYER);
        OCR3MedianAggregator agg = _deployArtifact(8, "vector");
        assertEq(address(agg), CONTRACT, "deployment address");
        vm.prank(ANVIL_DEPLOYER);
        agg.setConfig(_signers(), _transmitters(), 1, ONCHAIN_CONFIG, 1, OFFCHAIN_CONFIG);
        (,, bytes32 digest) = agg.latestConfigDetails();
        assertEq(digest, CONFIG_DIGEST, "config digest");

        (bytes32[] memory rs, bytes32[] memory ss, bytes32 rawVs) = _vectorSignatures();
        vm.prank(_transmitters()[0]);
        agg.transmit([CONFIG_DIGEST, bytes32(SEQ_NR)], REPORT, rs, ss, rawVs);
        (, int256 answer,,,) = agg.latestRoundData();
        assertEq(answer, 300000000000, "answer");
        assertEq(agg.latestSeqNr(), SEQ_NR, "latestSeqNr");
    }
}
