// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

/// @notice Chainlink's AggregatorV3Interface (same function signatures and
/// semantics), so existing price-feed consumers can read the aggregator.
/// getRoundData and latestRoundData revert if there is no data to report
/// rather than returning unset values.
interface AggregatorV3Interface {
    function decimals() external view returns (uint8);

    function description() external view returns (string memory);

    function version() external view returns (uint256);

    function getRoundData(uint80 _roundId)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
